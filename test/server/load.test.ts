// A small, bounded load test on loopback: concurrent clients get either the right result for the image they
// sent or a 503 with Retry-After; nothing is lost or mixed up. No timing assertions (see bench/load.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtureImages, formatReport, references, runLoad } from '../../bench/load.js';
import type { LensMethod } from '../../src/types.js';
import { startServer } from './helpers.js';
import { fakeModel } from './fake-model.js';

test('load: 6 clients for 1.5 s against a fake model, queue of 2', async () => {
  const model = fakeModel({ encodeMs: 10, lensMs: 3 });
  const images = fixtureImages();
  const methods: LensMethod[] = ['cosine', 'dot'];
  const reference = await references(fakeModel(), images, methods, 3);
  const { url, stop } = await startServer({ model, maxQueue: 2, cacheBytes: 1 << 20 });
  try {
    const r = await runLoad(
      { url, images, methods, k: 3, clients: 6, durationMs: 1500, maxRequests: 400, reference },
      () => process.memoryUsage().rss,
    );
    console.log(formatReport(r));
    assert.equal(r.wrong, 0, r.failures.join('\n'));
    assert.equal(r.ok + r.busy, r.requests);
    assert.ok(r.ok > 0);
    assert.equal(model.maxConcurrent, 1);
  } finally {
    await stop();
  }
});
