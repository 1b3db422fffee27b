// The server's model in a worker thread: the same results as the in-process model, /healthz answering within
// 1 s while a large image is analysed, typed errors across the thread, and close() then use is ClosedError.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { ImgTokensModel } from '../../src/api.js';
import { loadModel } from '../../src/model.js';
import { loadModelInWorker } from '../../src/server/worker-model.js';
import type { ResultJson } from '../../src/types.js';
import { blob, form, startServer } from './helpers.js';

const MODEL = 'test/fixtures/llava/tiny-llava-next';
const IMG = 'test/fixtures/llava/images/shapes_120x80.png';

describe('model in a worker thread', () => {
  let model: ImgTokensModel;
  before(async () => {
    model = await loadModelInWorker(MODEL);
  });
  after(() => model.close());

  test('the thread loads the model with the options given (reference, image backend)', async () => {
    const m = await loadModelInWorker(MODEL, { reference: 'v4' });
    try {
      assert.deepEqual([m.info.reference, m.info.imageBackend], ['v4', 'pil']);
    } finally {
      await m.close();
    }
    assert.deepEqual([model.info.reference, model.info.imageBackend], ['v5', 'torchvision']);
  });

  test('gives the in-process model result; typed errors cross the thread', async () => {
    const local = await loadModel(MODEL);
    try {
      const bytes = new Uint8Array(readFileSync(IMG));
      const a = await model.analyze(bytes, { method: 'cosine', k: 2 });
      const b = await local.analyze(bytes, { method: 'cosine', k: 2 });
      assert.deepEqual(a, b);
      const f = await model.encode(bytes);
      await assert.rejects(model.lens(f, { method: 'cosine', k: 1, exclude: ['x' as never] }), {
        kind: 'bad-input',
        message: /^exclude: unknown kind "x"/,
      });
    } finally {
      await local.close();
    }
    await assert.rejects(loadModelInWorker('test/fixtures/nowhere'), (e: unknown) => {
      assert.equal((e as { kind?: string }).kind, 'bad-input', String(e));
      assert.match(String(e), /no such directory: test\/fixtures\/nowhere/);
      return true;
    });
  });

  test('/healthz answers within 1 s while a 3000x3000 image is analysed', async () => {
    const big = new Uint8Array(
      await sharp({
        create: {
          width: 3000,
          height: 3000,
          channels: 3,
          background: '#000',
          noise: { type: 'gaussian', mean: 128, sigma: 40 },
        },
      })
        .png({ compressionLevel: 1 })
        .toBuffer(),
    );
    const s = await startServer({ model, maxUploadBytes: 64 << 20 });
    try {
      let done = false;
      const analysis = fetch(`${s.url}api/analyze?k=1`, {
        method: 'POST',
        body: form({ image: blob(big) }),
      }).then((r) => {
        done = true;
        return r;
      });
      let checks = 0;
      while (!done || checks < 3) {
        const res = await fetch(`${s.url}healthz`, { signal: AbortSignal.timeout(1000) });
        assert.equal(res.status, 200);
        checks++;
        if (done) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const res = await analysis;
      assert.equal(res.status, 200);
      const r = (await res.json()) as ResultJson;
      assert.deepEqual([r.image.width, r.image.height], [3000, 3000]);
      assert.ok(checks >= 3, `${checks} health checks during the analysis`);
    } finally {
      await s.stop();
    }
  });

  test('close() is idempotent; a call after it is ClosedError', async () => {
    const m = await loadModelInWorker(MODEL);
    await m.close();
    await m.close();
    await assert.rejects(m.encode(new Uint8Array(readFileSync(IMG))), { kind: 'closed' });
  });
});
