// The server's deep lens: /api/analyze with a "layers" field runs it in the model thread and returns
// imgtokens.result/2 (the same deep part as the library), view filtering keeps deep rows aligned with tokens,
// and bad "layers" / "prompt" fields are 400s naming the field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { ImgTokensModel } from '../../src/api.js';
import { loadModel } from '../../src/model.js';
import { validateResult } from '../../src/render/json.js';
import { loadModelInWorker } from '../../src/server/worker-model.js';
import type { ResultJson } from '../../src/types.js';
import { blob, form, startServer } from './helpers.js';

const MODEL = 'test/fixtures/llava/tiny-llava-next';
const IMG = new Uint8Array(readFileSync('test/fixtures/llava/images/shapes_120x80.png'));

describe('server deep lens', () => {
  let model: ImgTokensModel;
  let url: string;
  let stop: () => Promise<void>;
  before(async () => {
    model = await loadModelInWorker(MODEL);
    ({ url, stop } = await startServer({ model }));
  });
  after(async () => {
    await stop();
    await model.close();
  });

  test('"layers" gives imgtokens.result/2 with the library\'s deep part', async () => {
    const res = await fetch(`${url}api/analyze`, {
      method: 'POST',
      body: form({ image: [blob(IMG), 'shapes.png'], method: 'cosine', k: '2', layers: '0,2' }),
    });
    assert.equal(res.status, 200);
    const r = (await res.json()) as ResultJson;
    assert.deepEqual(validateResult(r), []);
    assert.equal(r.schema, 'imgtokens.result/2');
    const local = await loadModel(MODEL);
    try {
      const d = await local.deep(await local.encode(IMG), { layers: '0,2', k: 2 });
      assert.deepEqual(r.deep, d.deep);
    } finally {
      await local.close();
    }
    const grid = await fetch(`${url}api/analyze`, {
      method: 'POST',
      body: form({ image: blob(IMG), k: '1', layers: '2', view: 'grid' }),
    });
    const g = (await grid.json()) as ResultJson;
    // (a view-filtered result keeps the tokens' own indices, so it is not a whole result/2; the rows still align)
    assert.ok(g.tokens.every((t) => t.view === 'grid'));
    assert.equal(g.deep!.prompt.imagePositions.length, g.tokens.length);
    assert.equal(g.deep!.layers[0]!.logit.length, g.tokens.length);
  });

  test('bad "layers" and a "prompt" without "layers" are 400s', async () => {
    for (const [fields, re] of [
      [{ layers: '1;2' }, /"layers" must be/],
      [{ layers: '7' }, /past the last one/],
      [{ prompt: 'hi' }, /"prompt" needs "layers"/],
    ] as const) {
      const res = await fetch(`${url}api/analyze`, {
        method: 'POST',
        body: form({ image: blob(IMG), ...fields }),
      });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, re);
    }
  });
});
