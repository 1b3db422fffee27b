// LensThread (the lens in a worker thread) against Lens in this thread, on the tiny-llava fixture's matrices:
// every call gives the same values, errors keep their class, and a model loaded with prepareLens analyses as
// one loaded without it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { BadInputError, ClosedError } from '../errors.js';
import { loadModel } from '../model.js';
import { parseNpy } from '../util/npy.js';
import { Lens, type LensCreateOptions } from './lens.js';
import { LensThread } from './thread.js';

const DIR = 'test/fixtures/llava/tiny-llava';
const IMAGE = 'test/fixtures/llava/images/shapes_120x80.png';

function f32(path: string): { data: Float32Array; shape: number[] } {
  const a = parseNpy(new Uint8Array(readFileSync(path)));
  assert.ok(a.data instanceof Float32Array, `${path} is float32`);
  return { data: a.data, shape: a.shape };
}

const embed = f32(`${DIR}/expected/embed_tokens.npy`);
const [vocab, hidden] = embed.shape;
const opts: Omit<LensCreateOptions, 'sessionCache'> = {
  embed: embed.data,
  lmHead: f32(`${DIR}/expected/lm_head.npy`).data,
  normWeight: f32(`${DIR}/expected/final_norm_weight.npy`).data,
  rmsEps: 1e-6,
  vocab,
  hidden,
};
const features = f32(`${DIR}/expected/shapes_120x80/image_features.npy`).data;
const tokens = features.length / hidden;

const local = Lens.create(opts);
const remote = LensThread.start({ ...opts, sessionCacheDir: null });
after(async () => {
  await local.release();
  await remote.release().catch(() => undefined);
});

test('LensThread: prepare, then every method gives what Lens gives', async () => {
  await remote.prepare(['cosine', 'logit', 'omp']);
  for (const method of ['cosine', 'dot', 'l2', 'logit', 'logit-raw', 'omp', 'ompp'] as const) {
    const events: string[] = [];
    const got = await remote.run(features, tokens, method, 5, null, (e) => events.push(e.status));
    const want = await local.run(features, tokens, method, 5, null);
    assert.equal(got.tokens, tokens, method);
    assert.deepEqual([...got.ids], [...want.ids], `${method} ids`);
    assert.deepEqual([...got.scores], [...want.scores], `${method} scores`);
    if (method === 'omp') assert.ok(events.includes('done'), 'OMP progress crosses the thread');
  }
  const mask = new Uint8Array(vocab);
  mask[(await local.run(features, tokens, 'cosine', 1)).ids[0]] = 1;
  const masked = await remote.run(features, tokens, 'cosine', 3, mask);
  assert.deepEqual([...masked.ids], [...(await local.run(features, tokens, 'cosine', 3, mask)).ids]);
  assert.deepEqual(await remote.embeddingRows([0, 5, 7]), await local.embeddingRows([0, 5, 7]));
  assert.deepEqual(await remote.finalNorm(features, tokens), await local.finalNorm(features, tokens));
});

test('LensThread: errors cross the thread with their class and hint', async () => {
  await assert.rejects(remote.run(features, tokens, 'cosine', vocab + 1), (e: unknown) => {
    assert.ok(e instanceof BadInputError, String(e));
    assert.match(e.message, /k must be an integer/);
    return true;
  });
  await assert.rejects(remote.prepare(['nope' as 'cosine']), BadInputError);
  await assert.rejects(remote.embeddingRows([vocab]), BadInputError);
  // The thread still answers after an error.
  assert.equal((await remote.run(features, tokens, 'dot', 2)).k, 2);
});

test('LensThread: a bad matrix shape rejects the first call; release ends the thread', async () => {
  const bad = LensThread.start({ ...opts, vocab: vocab + 1, sessionCacheDir: null });
  await assert.rejects(bad.run(features, tokens, 'cosine', 2), /expected \[/);
  const t = LensThread.start({ ...opts, sessionCacheDir: null });
  assert.equal((await t.run(features, tokens, 'cosine', 2)).k, 2);
  await t.release();
  await assert.rejects(t.run(features, tokens, 'cosine', 2), ClosedError);
  await t.release(); // a second release is a no-op
  await bad.release().catch(() => undefined);
});

test('loadModel with prepareLens analyses exactly as without it (the lens in its own thread)', async () => {
  const plain = await loadModel('test/fixtures/llava/tiny-llava-next', { sessionCache: false });
  const threaded = await loadModel('test/fixtures/llava/tiny-llava-next', {
    sessionCache: false,
    prepareLens: ['cosine'],
  });
  try {
    assert.ok(threaded.lensEngine instanceof LensThread);
    assert.ok(plain.lensEngine instanceof Lens);
    for (const method of ['cosine', 'logit'] as const) {
      const a = await plain.analyze(IMAGE, { method, k: 5 });
      const b = await threaded.analyze(IMAGE, { method, k: 5 });
      assert.deepEqual(b, a, method);
    }
    const f = await threaded.encode(IMAGE);
    const d1 = await threaded.deep(f, { layers: [0, 1], k: 3 });
    const d0 = await plain.deep(await plain.encode(IMAGE), { layers: [0, 1], k: 3 });
    assert.deepEqual(d1.deep, d0.deep, 'the deep lens through the lens thread');
  } finally {
    await plain.close();
    await threaded.close();
  }
});

test('loadModel as the CLI loads (prepareLens, prepackWeights false): the same words, scores within 1e-5', async () => {
  const dir = 'test/fixtures/llava/tiny-llava-next';
  const packed = await loadModel(dir, { sessionCache: false });
  const cli = await loadModel(dir, { sessionCache: false, prepareLens: ['cosine'], prepackWeights: false });
  try {
    for (const method of ['cosine', 'logit'] as const) {
      const a = await packed.analyze(IMAGE, { method, k: 5 });
      const b = await cli.analyze(IMAGE, { method, k: 5 });
      assert.equal(b.tokens.length, a.tokens.length);
      let maxDiff = 0;
      a.tokens.forEach((t, i) => {
        assert.deepEqual(
          b.tokens[i].top.map((w) => w.id),
          t.top.map((w) => w.id),
          `${method} token ${i}`,
        );
        t.top.forEach((w, j) => (maxDiff = Math.max(maxDiff, Math.abs(w.score - b.tokens[i].top[j].score))));
      });
      assert.ok(maxDiff <= 1e-5, `${method}: max score difference ${maxDiff}`);
    }
  } finally {
    await packed.close();
    await cli.close();
  }
});
