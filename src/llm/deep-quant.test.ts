// The opt-in --dtype q8|q4 deep lens on the tiny LLaVA fixture (test/fixtures/deep/tiny-llava, transformers
// 4.45.1): the quantized run's logit-lens top-1 ids agree with the exact fp32 run's at most (layer, image token)
// cells. Random tiny weights make near ties common, so the floor is stated, not perfection: q8 >= 90 % (measured
// 97.4 % of 192 cells when written), q4 >= 60 % (measured 79.7 %); layer 0 (the input embeddings) is exact in
// both. The fp32 default is the exact path that deep.test.ts holds to the fixtures (1e-4).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadModel, type Model } from '../model.js';
import { parseNpy } from '../util/npy.js';

const MODEL = 'test/fixtures/llava/tiny-llava';
const IMAGES = 'test/fixtures/llava/images';
const FIXTURE = 'test/fixtures/deep/tiny-llava';

let m: Model | null = null;
after(async () => {
  await m?.close();
});

test('deep lens --dtype q8 / q4: top-1 agreement with fp32 on tiny-llava above the stated floor', async () => {
  const model = await loadModel(MODEL, { imageBackend: 'pil' });
  m = model;
  const image = readdirSync(FIXTURE, { withFileTypes: true }).find((d) => d.isDirectory())!.name;
  const file = readdirSync(IMAGES).find((f) => f.startsWith(image) && !f.endsWith('.npy'))!;
  const f = await model.encode(join(IMAGES, file));
  const hs = parseNpy(new Uint8Array(readFileSync(join(FIXTURE, image, 'hidden_states.npy'))));
  const [, n, D] = hs.shape as [number, number, number];
  const feats = { ...f, features: (hs.data as Float32Array).slice(0, n * D) };
  const exact = await model.deep(feats, { k: 5, reference: 'v4' });
  const floors = { q8: 0.9, q4: 0.6 } as const;
  for (const dtype of ['q8', 'q4'] as const) {
    const q = await model.deep(feats, { k: 5, reference: 'v4', dtype });
    const a = exact.tensors.lensIds;
    const b = q.tensors.lensIds;
    assert.equal(a.length, b.length);
    let same = 0;
    let cells = 0;
    for (let i = 0; i < a.length; i += 5) {
      cells++;
      if (a[i] === b[i]) same++;
    }
    const agree = same / cells;
    console.log(`  ${dtype}: top-1 agreement ${(100 * agree).toFixed(1)} % of ${cells} (layer, token) cells`);
    assert.ok(agree >= floors[dtype], `${dtype} top-1 agreement ${agree} < ${floors[dtype]}`);
    // the next-token distribution stays close: the top token is the same
    assert.equal(q.deep.next[0]?.id, exact.deep.next[0]?.id, `${dtype}: the model's own next token`);
  }
});
