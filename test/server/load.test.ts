// A small, bounded load test on loopback with the fixture model (tiny-llava-next): concurrent clients get
// either the right result for the image they sent or a 503 with Retry-After; nothing is lost or mixed up, and
// the model never runs two analyses at once. No timing assertions (bench/load.ts prints the figures).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImgTokensModel } from '../../src/api.js';
import { fixtureImages, formatReport, references, runLoad } from '../../bench/load.js';
import { loadModel } from '../../src/model.js';
import type { LensMethod } from '../../src/types.js';
import { startServer } from './helpers.js';

test('load: 6 clients for 2 s against tiny-llava-next, queue of 2', async () => {
  const model = await loadModel(new URL('../fixtures/llava/tiny-llava-next', import.meta.url).pathname, {});
  let running = 0;
  let peak = 0;
  // Count overlapping calls to check that the server serialises them.
  const counted: ImgTokensModel = {
    info: model.info,
    encode: async (...a) => track(() => model.encode(...a)),
    lens: async (...a) => track(() => model.lens(...a)),
    analyze: async (...a) => track(() => model.analyze(...a)),
    close: () => model.close(),
  };
  async function track<T>(fn: () => Promise<T>): Promise<T> {
    peak = Math.max(peak, ++running);
    try {
      return await fn();
    } finally {
      running--;
    }
  }
  const images = fixtureImages();
  const methods: LensMethod[] = ['cosine', 'dot', 'l2'];
  const reference = await references(model, images, methods, 3);
  const { url, stop } = await startServer({ model: counted, maxQueue: 2 });
  try {
    const r = await runLoad(
      { url, images, methods, k: 3, clients: 6, durationMs: 2000, maxRequests: 300, reference },
      () => process.memoryUsage().rss,
    );
    console.log(formatReport(r));
    assert.equal(r.wrong, 0, r.failures.join('\n'));
    assert.equal(r.ok + r.busy, r.requests);
    assert.ok(r.ok > 0);
    assert.equal(peak, 1);
  } finally {
    await stop();
    await model.close();
  }
});
