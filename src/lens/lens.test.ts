// Lens against the golden fixtures: every measure for both models and all four images, with the fixture's
// image_features.npy as input and expected/{embed_tokens,lm_head,final_norm_weight}.npy as matrices.
// Tolerances (test/fixtures/llava/README.md): scores 1e-4, OMP coefficients 1e-3 (non-zero entries only),
// ids equal except rank swaps on the near-tie rows expected.json lists.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import type { LensMethod } from '../types.js';
import { parseNpy, type NpyArray } from '../util/npy.js';
import { Lens, type LensCreateOptions } from './lens.js';
import { runOmp } from './omp.js';

const FIXTURES = 'test/fixtures/llava';
const MODELS = ['tiny-llava', 'tiny-llava-next'] as const;
const IMAGES = ['gradient_37x23', 'checker_64x64', 'shapes_120x80', 'portrait_45x90'] as const;
const K = 10;
const SCORE_TOL = 1e-4;
const COEF_TOL = 1e-3;

/** Fixture method name → lens method. */
const METHODS: ReadonlyArray<[string, LensMethod]> = [
  ['cosine', 'cosine'],
  ['dot', 'dot'],
  ['l2', 'l2'],
  ['lm_head', 'logit-raw'],
  ['lm_head_normed', 'logit'],
];

/**
 * readNpy(path) of src/util/npy.ts is wrong on Node Buffers (Buffer#slice is a view, so the data starts at
 * the file's header); copy into a plain Uint8Array first.
 */
function readNpy(path: string): NpyArray {
  return parseNpy(new Uint8Array(readFileSync(path)));
}

function f32(path: string): { data: Float32Array; shape: number[] } {
  const a = readNpy(path);
  assert.ok(a.data instanceof Float32Array, `${path} is float32`);
  return { data: a.data, shape: a.shape };
}
function i64(path: string): Int32Array {
  const a = readNpy(path);
  assert.ok(a.data instanceof BigInt64Array, `${path} is int64`);
  return Int32Array.from(a.data, (v) => Number(v));
}

interface ExpectedJson {
  topk: { methods: Record<string, { 'rows_with_gap_below_1e-5'?: number[] }> };
}

const lenses: Lens[] = [];
after(async () => {
  for (const l of lenses) await l.release();
});

function makeLens(
  model: string,
  extra: Partial<LensCreateOptions> = {},
): { lens: Lens; embed: Float32Array; hidden: number } {
  const dir = `${FIXTURES}/${model}`;
  const cfg = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) as {
    text_config: { rms_norm_eps?: number };
  };
  const embed = f32(`${dir}/expected/embed_tokens.npy`);
  const [vocab, hidden] = embed.shape;
  const lens = Lens.create({
    embed: embed.data,
    lmHead: f32(`${dir}/expected/lm_head.npy`).data,
    normWeight: f32(`${dir}/expected/final_norm_weight.npy`).data,
    rmsEps: cfg.text_config.rms_norm_eps ?? 1e-6, // LlamaConfig default
    vocab,
    hidden,
    threads: 2,
    ...extra,
  });
  lenses.push(lens);
  return { lens, embed: embed.data, hidden };
}

/** Rows where got and expected ids differ must be near-tie rows with the same id set, up to a swap at the end. */
function compareTopK(
  label: string,
  gotIds: Int32Array,
  gotScores: Float32Array,
  expIds: Int32Array,
  expScores: Float32Array,
  tokens: number,
  tieRows: ReadonlySet<number>,
): { maxDiff: number; swaps: number } {
  let maxDiff = 0;
  let swaps = 0;
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < K; i++) {
      const d = Math.abs(gotScores[t * K + i] - expScores[t * K + i]);
      maxDiff = Math.max(maxDiff, d);
      assert.ok(
        d <= SCORE_TOL,
        `${label} row ${t} rank ${i}: score ${gotScores[t * K + i]} vs ${expScores[t * K + i]}`,
      );
    }
    const g = [...gotIds.subarray(t * K, t * K + K)];
    const e = [...expIds.subarray(t * K, t * K + K)];
    if (g.join() === e.join()) continue;
    swaps++;
    assert.ok(tieRows.has(t), `${label} row ${t}: ids ${g} vs ${e} (not a listed near-tie row)`);
    // A near tie may swap ranks, or swap the 10th entry with the 11th.
    const mismatched = g.filter((id) => !e.includes(id));
    assert.ok(mismatched.length <= 1, `${label} row ${t}: ids ${g} vs ${e}`);
  }
  return { maxDiff, swaps };
}

for (const model of MODELS) {
  test(`${model}: cosine, dot, l2, logit-raw, logit match the golden top-10`, async () => {
    const { lens } = makeLens(model);
    const report: string[] = [];
    for (const image of IMAGES) {
      const dir = `${FIXTURES}/${model}/expected/${image}`;
      const feats = f32(`${dir}/image_features.npy`);
      const [tokens] = feats.shape;
      const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as ExpectedJson;
      for (const [fx, method] of METHODS) {
        const r = await lens.run(feats.data, tokens, method, K);
        assert.equal(r.tokens, tokens);
        assert.equal(r.k, K);
        const ties = new Set(expected.topk.methods[fx]['rows_with_gap_below_1e-5'] ?? []);
        const { maxDiff, swaps } = compareTopK(
          `${model}/${image}/${method}`,
          r.ids,
          r.scores,
          i64(`${dir}/topk_${fx}_ids.npy`),
          f32(`${dir}/topk_${fx}_scores.npy`).data,
          tokens,
          ties,
        );
        report.push(
          `${image}/${method} maxdiff ${maxDiff.toExponential(2)}${swaps ? ` (${swaps} near-tie swaps)` : ''}`,
        );
      }
    }
    console.log(`${model}: ${report.join(', ')}`);
  });

  test(`${model}: omp matches omp_sparse_{ids,coefs}`, async () => {
    const { lens } = makeLens(model);
    let maxDiff = 0;
    for (const image of IMAGES) {
      const dir = `${FIXTURES}/${model}/expected/${image}`;
      const feats = f32(`${dir}/image_features.npy`);
      const [tokens] = feats.shape;
      const r = await lens.run(feats.data, tokens, 'omp', K);
      const expIds = i64(`${dir}/omp_sparse_ids.npy`);
      const expCoefs = f32(`${dir}/omp_sparse_coefs.npy`).data;
      for (let t = 0; t < tokens; t++) {
        for (let i = 0; i < K; i++) {
          const j = t * K + i;
          const label = `${model}/${image}/omp row ${t} rank ${i}`;
          assert.equal(r.ids[j], expIds[j], `${label}: id`);
          if (expIds[j] < 0) continue; // compare non-zero entries only
          const d = Math.abs(r.scores[j] - expCoefs[j]);
          maxDiff = Math.max(maxDiff, d);
          assert.ok(d <= COEF_TOL, `${label}: coef ${r.scores[j]} vs ${expCoefs[j]}`);
        }
      }
      // The positive part of the original's top-10 (topk_omp) is the head of our sparse rows.
      const topIds = i64(`${dir}/topk_omp_ids.npy`);
      const topScores = f32(`${dir}/topk_omp_scores.npy`).data;
      for (let t = 0; t < tokens; t++) {
        for (let i = 0; i < K && topScores[t * K + i] > 0; i++)
          assert.equal(r.ids[t * K + i], topIds[t * K + i]);
      }
    }
    console.log(`${model}: omp coef maxdiff ${maxDiff.toExponential(2)}`);
  });
}

test('exclude mask: excluded rows never appear, the rest keep their order', async () => {
  const { lens } = makeLens('tiny-llava');
  const dir = `${FIXTURES}/tiny-llava/expected/checker_64x64`;
  const feats = f32(`${dir}/image_features.npy`);
  const [tokens] = feats.shape;
  const full = await lens.run(feats.data, tokens, 'dot', 20);
  const mask = new Uint8Array(512);
  for (let t = 0; t < tokens; t++) mask[full.ids[t * 20]] = 1; // drop every row's best match
  for (const id of [0, 1, 2, 510, 511]) mask[id] = 1;
  for (const method of ['cosine', 'dot', 'l2', 'logit', 'logit-raw', 'omp', 'ompp'] as const) {
    const r = await lens.run(feats.data, tokens, method, K, mask);
    for (const id of r.ids) assert.ok(id < 0 || mask[id] === 0, `${method}: excluded id ${id} returned`);
  }
  const masked = await lens.run(feats.data, tokens, 'dot', K, mask);
  for (let t = 0; t < tokens; t++) {
    const expect = [...full.ids.subarray(t * 20, t * 20 + 20)].filter((id) => mask[id] === 0).slice(0, K);
    assert.deepEqual([...masked.ids.subarray(t * K, t * K + K)], expect);
  }
  await assert.rejects(lens.run(feats.data, tokens, 'dot', K, new Uint8Array(3)), /exclude mask/);
  await assert.rejects(lens.run(feats.data, tokens, 'dot', 0), /k must be/);
  await assert.rejects(lens.run(feats.data.subarray(1), tokens, 'dot', K), /features/);
});

test('ompp mirrors the original pos_only variant (matching pursuit, coefficient overwrite on re-selection)', async () => {
  // Reference computed densely in JS, following similarvec.batch_omp(pos_only=True) step by step.
  const { lens, embed, hidden: D } = makeLens('tiny-llava-next');
  const dir = `${FIXTURES}/tiny-llava-next/expected/gradient_37x23`;
  const feats = f32(`${dir}/image_features.npy`);
  const tokens = 12;
  const x = feats.data.subarray(0, tokens * D);
  const r = await lens.run(x, tokens, 'ompp', K);
  const V = 512;
  let reselected = 0;
  for (let t = 0; t < tokens; t++) {
    const q = Array.from(x.subarray(t * D, t * D + D));
    const coef = new Map<number, number>();
    let res = [...q];
    for (let i = 0; i < K; i++) {
      let best = -1;
      let bestAbs = -1;
      for (let v = 0; v < V; v++) {
        let c = 0;
        for (let j = 0; j < D; j++) c += embed[v * D + j] * res[j];
        if (Math.abs(c) > bestAbs) [best, bestAbs] = [v, Math.abs(c)];
      }
      let num = 0;
      let den = 0;
      for (let j = 0; j < D; j++) {
        num += embed[best * D + j] * res[j];
        den += embed[best * D + j] ** 2;
      }
      if (coef.has(best)) reselected++;
      coef.set(best, num / den); // X[idx, j] = sol: overwrite
      res = q.map((qj, j) => {
        let s = 0;
        for (const [a, c] of coef) s += c * embed[a * D + j];
        return qj - s;
      });
    }
    const want = [...coef].filter(([, c]) => c !== 0).sort((a, b) => b[1] - a[1]);
    const got = [...r.ids.subarray(t * K, t * K + K)].filter((id) => id >= 0);
    assert.deepEqual(
      got,
      want.map(([id]) => id),
      `row ${t}`,
    );
    want.forEach(([, c], i) => assert.ok(Math.abs(r.scores[t * K + i] - c) < 1e-4, `row ${t} coef ${i}`));
  }
  assert.ok(reselected > 0, 'the rows checked include re-selections (the overwrite quirk)');
});

test('omp recovers an exact sparse combination and pads short rows with -1', async () => {
  // 3 tokens over a random 64x16 dictionary; token 2 is a single atom, so its row has one entry.
  const V = 64;
  const D = 16;
  let seed = 7;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const E = Float32Array.from({ length: V * D }, rand);
  const combos: Array<Array<[number, number]>> = [
    [
      [5, 2],
      [17, -1],
      [40, 0.5],
    ],
    [
      [1, 1],
      [2, 1],
    ],
    [[33, 3]],
  ];
  const X = new Float32Array(combos.length * D);
  combos.forEach((c, t) => {
    for (const [a, w] of c) for (let j = 0; j < D; j++) X[t * D + j] += w * E[a * D + j];
  });
  const correlate = async (R: Float32Array, n: number, width: number): Promise<Int32Array> => {
    const out = new Int32Array(n * width);
    for (let t = 0; t < n; t++) {
      const scores = Array.from({ length: V }, (_, v) => {
        let c = 0;
        for (let j = 0; j < D; j++) c += E[v * D + j] * R[t * D + j];
        return [v, Math.abs(c)] as const;
      }).sort((a, b) => b[1] - a[1]);
      for (let i = 0; i < width; i++) out[t * width + i] = scores[i][0];
    }
    return out;
  };
  const k = 4;
  const r = await runOmp({
    features: X,
    tokens: 3,
    hidden: D,
    rows: async (ids) => {
      const out = new Float32Array(ids.length * D);
      ids.forEach((a, i) => out.set(E.subarray(a * D, (a + 1) * D), i * D));
      return out;
    },
    k,
    newestOnly: false,
    correlate,
  });
  combos.forEach((c, t) => {
    const want = [...c].sort((a, b) => b[1] - a[1]);
    const row = [...r.ids.subarray(t * k, t * k + k)].map((id, i) => [id, r.coefs[t * k + i]] as const);
    // Beyond the true support the residual is ~0: extra atoms get ~0 coefficients (or the row is padded).
    const big = row.filter(([id, w]) => id >= 0 && Math.abs(w) > 1e-4);
    assert.deepEqual(
      big.map(([id]) => id),
      want.map(([id]) => id),
      `token ${t}`,
    );
    big.forEach(([, w], i) => assert.ok(Math.abs(w - want[i][1]) < 1e-4));
    for (const [id, w] of row) if (id === -1) assert.equal(w, 0);
  });
});

test('matrix fed as a graph input gives the same results as the initializer', async () => {
  const a = makeLens('tiny-llava').lens;
  const b = makeLens('tiny-llava', { matrixAsInitializer: false }).lens;
  const feats = f32(`${FIXTURES}/tiny-llava/expected/shapes_120x80/image_features.npy`);
  const [tokens] = feats.shape;
  for (const method of ['cosine', 'l2', 'logit', 'omp'] as const) {
    const ra = await a.run(feats.data, tokens, method, K);
    const rb = await b.run(feats.data, tokens, method, K);
    assert.deepEqual(rb.ids, ra.ids, method);
    assert.deepEqual(rb.scores, ra.scores, method);
  }
});

test('lens runs split into token chunks give the same results as one run', async () => {
  const a = makeLens('tiny-llava').lens;
  const b = makeLens('tiny-llava', { chunkTokens: 7 }).lens;
  const feats = f32(`${FIXTURES}/tiny-llava/expected/shapes_120x80/image_features.npy`);
  const [tokens] = feats.shape;
  assert.ok(tokens > 7 && tokens % 7 !== 0, `${tokens} tokens: several chunks and a partial one`);
  for (const method of ['cosine', 'l2', 'logit', 'omp'] as const) {
    const ra = await a.run(feats.data, tokens, method, K);
    const rb = await b.run(feats.data, tokens, method, K);
    assert.deepEqual(rb.ids, ra.ids, method);
    assert.deepEqual(rb.scores, ra.scores, method);
  }
});

test('Gemma hooks: (1 + w) RMSNorm and an embedding scale', async () => {
  const dir = `${FIXTURES}/tiny-llava/expected`;
  const embed = f32(`${dir}/embed_tokens.npy`).data;
  const w = f32(`${dir}/final_norm_weight.npy`).data;
  const base = { embed, rmsEps: 1e-5, vocab: 512, hidden: 48, threads: 2 };
  const llama = Lens.create({ ...base, normWeight: w });
  const gemma = Lens.create({ ...base, normWeight: w.map((v) => v - 1), normKind: 'rms1p', embedScale: 2 });
  lenses.push(llama, gemma);
  const feats = f32(`${dir}/checker_64x64/image_features.npy`);
  const [tokens] = feats.shape;
  // (1 + (w - 1)) = w: the same logits; lm_head (tied here) is not scaled.
  const la = await llama.run(feats.data, tokens, 'logit', K);
  const ga = await gemma.run(feats.data, tokens, 'logit', K);
  assert.deepEqual(ga.ids, la.ids);
  la.scores.forEach((s, i) => assert.ok(Math.abs(ga.scores[i] - s) < 1e-5));
  // Embedding measures see 2·E: dot doubles, cosine is unchanged.
  const ld = await llama.run(feats.data, tokens, 'dot', K);
  const gd = await gemma.run(feats.data, tokens, 'dot', K);
  assert.deepEqual(gd.ids, ld.ids);
  ld.scores.forEach((s, i) => assert.ok(Math.abs(gd.scores[i] - 2 * s) < 1e-5));
  const lc = await llama.run(feats.data, tokens, 'cosine', K);
  const gc = await gemma.run(feats.data, tokens, 'cosine', K);
  assert.deepEqual(gc.ids, lc.ids);
  const raw = await gemma.run(feats.data, tokens, 'logit-raw', K);
  assert.deepEqual(raw.scores, ld.scores); // tied lm_head = unscaled embed
});

test('Batch-OMP (the Gram-matrix shortcut) selects the same atoms as the residual path, with or without falling back', async () => {
  // The residual path (one R·Eᵀ product per step) is what the fixture test above checks against the original;
  // the Gram path must give the same ids and coefficients within COEF_TOL on every fixture image, also when a
  // small Gram budget makes it fall back to residual products part-way.
  for (const model of MODELS) {
    const residual = makeLens(model, { ompGram: false }).lens;
    const gram = makeLens(model).lens;
    for (const image of IMAGES) {
      const feats = f32(`${FIXTURES}/${model}/expected/${image}/image_features.npy`);
      const [tokens] = feats.shape;
      const want = await residual.run(feats.data, tokens, 'omp', K);
      const got = await gram.run(feats.data, tokens, 'omp', K);
      assert.deepEqual([...got.ids], [...want.ids], `${model}/${image}: ids`);
      for (let j = 0; j < want.scores.length; j++)
        assert.ok(Math.abs(got.scores[j] - want.scores[j]) <= COEF_TOL, `${model}/${image}: coef ${j}`);
    }
  }
  // The fallback, driven directly: a budget with room for α⁰ and a few Gram rows only.
  const dir = `${FIXTURES}/tiny-llava/expected/shapes_120x80`;
  const feats = f32(`${dir}/image_features.npy`);
  const embed = f32(`${FIXTURES}/tiny-llava/expected/embed_tokens.npy`);
  const [V, D] = embed.shape;
  const [T] = feats.shape;
  const dense = (rows: Float32Array, n: number): Float32Array => {
    const out = new Float32Array(n * V);
    for (let i = 0; i < n; i++)
      for (let v = 0; v < V; v++) {
        let c = 0;
        for (let j = 0; j < D; j++) c += rows[i * D + j] * embed.data[v * D + j];
        out[i * V + v] = c;
      }
    return out;
  };
  const base = {
    features: feats.data,
    tokens: T,
    hidden: D,
    rows: async (ids: readonly number[]) =>
      Float32Array.from(ids.flatMap((a) => [...embed.data.subarray(a * D, (a + 1) * D)])),
    k: K,
    newestOnly: false,
    correlate: async (R: Float32Array, n: number, width: number) => {
      const p = dense(R, n);
      const out = new Int32Array(n * width);
      for (let t = 0; t < n; t++) {
        const order = Array.from({ length: V }, (_, v) => v).sort(
          (a, b) => Math.abs(p[t * V + b]) - Math.abs(p[t * V + a]) || a - b,
        );
        out.set(order.slice(0, width), t * width);
      }
      return out;
    },
  };
  let products = 0;
  const project = async (rows: Float32Array, n: number) => {
    products += n;
    return dense(rows, n);
  };
  // |α⁰ - C·G| in float64, ranked as TopK does (largest first, the lower id on ties)
  const correlate = async (
    alpha0: Float32Array,
    coefs: Float32Array,
    rows: Float32Array,
    n: number,
    atoms: number,
    width: number,
  ) => {
    const out = new Int32Array(n * width);
    for (let t = 0; t < n; t++) {
      const c = Array.from({ length: V }, (_, v) => {
        let a = alpha0[t * V + v];
        for (let u = 0; u < atoms; u++) a -= coefs[t * atoms + u] * rows[u * V + v];
        return Math.abs(a);
      });
      const order = Array.from({ length: V }, (_, v) => v).sort((a, b) => c[b] - c[a] || a - b);
      out.set(order.slice(0, width), t * width);
    }
    return out;
  };
  const plain = await runOmp(base);
  for (const budgetBytes of [(T + 8) * V * 4, 1 << 30]) {
    products = 0;
    const r = await runOmp({ ...base, gram: { project, correlate, vocab: V, budgetBytes } });
    assert.deepEqual([...r.ids], [...plain.ids], `budget ${budgetBytes}: ids`);
    for (let j = 0; j < r.coefs.length; j++) assert.ok(Math.abs(r.coefs[j] - plain.coefs[j]) <= COEF_TOL);
    assert.ok(products >= T, `budget ${budgetBytes}: α⁰ was computed (${products} product rows)`);
  }
});
