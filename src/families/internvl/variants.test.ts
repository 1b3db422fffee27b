// InternVL config variants the tiny fixture does not exercise (README-pixelshuffle.md names them: `norm_type: rms_norm`,
// `use_qk_norm` over the whole width with eps 1e-6, `use_mean_pooling: false` = a final LayerNorm, attention without
// q/k/v biases, `vision_feature_layer` != -1 = a raw hidden state). The graph is checked against a float64 reference
// written here from that description (transformers 5.12.1 modeling_internvl.py), which is itself first checked against
// the fixture's connector_output on the fixture config. Weights: the fixture's, plus deterministic extras.
// Tolerance: |d| / max(1, |want|) <= 1e-4.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigReader, type Json } from '../../config/reader.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import type { WeightTensor } from '../../source/types.js';
import { parseNpy } from '../../util/npy.js';
import { parseInternVLConfig, type InternVLConfig } from './config.js';
import { buildInternVLVisionGraph, internvlVisionTensorNames } from './vision.js';

const DIR = 'test/fixtures/modern/tiny-internvl';
const EXP = join(DIR, 'expected', 'portrait_45x90');
const TOL = 1e-4;

type T64 = { shape: number[]; data: Float64Array };
const json = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;

// ---------------------------------------------------------------- the float64 reference

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7: far below the test tolerance). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-a * a);
  return s * y;
}
const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** x [rows, in] · Wᵀ + b, W [out, in]. */
function linear(x: Float64Array, rows: number, W: T64, b: T64 | null): Float64Array {
  const [o, i] = W.shape;
  const y = new Float64Array(rows * o);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < o; j++) {
      let acc = b ? b.data[j] : 0;
      for (let k = 0; k < i; k++) acc += x[r * i + k] * W.data[j * i + k];
      y[r * o + j] = acc;
    }
  return y;
}
function normRows(
  x: Float64Array,
  dim: number,
  eps: number,
  w: T64,
  b: T64 | null,
  rms: boolean,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    const row = x.subarray(r * dim, (r + 1) * dim);
    const mean = rms ? 0 : row.reduce((a, v) => a + v, 0) / dim;
    const v = row.reduce((a, q) => a + (q - mean) ** 2, 0) / dim;
    for (let k = 0; k < dim; k++)
      y[r * dim + k] = ((row[k] - mean) / Math.sqrt(v + eps)) * w.data[k] + (b ? b.data[k] : 0);
  }
  return y;
}

/** InternViT + selection + pixel shuffle + projector for one tile [3, S, S] -> [tokens, H]. */
function reference(
  cfg: InternVLConfig,
  W: (n: string) => T64 | null,
  pixels: Float32Array,
  opts: { qkNormPerHead?: boolean } = {},
): Float64Array {
  const v = cfg.vision;
  const D = v.hiddenSize;
  const p = v.patchSize;
  const g = cfg.patchGrid;
  const S = v.imageSize;
  const N = 1 + g * g;
  const req = (n: string) => W(n) ?? assert.fail(`missing ${n}`);
  const conv = req('vision_tower.embeddings.patch_embeddings.projection.weight');
  const convB = req('vision_tower.embeddings.patch_embeddings.projection.bias');
  const cls = req('vision_tower.embeddings.cls_token');
  const pos = req('vision_tower.embeddings.position_embeddings');
  let x = new Float64Array(N * D);
  for (let d = 0; d < D; d++) x[d] = cls.data[d] + pos.data[d];
  for (let py = 0; py < g; py++)
    for (let px = 0; px < g; px++) {
      const t = 1 + py * g + px;
      for (let d = 0; d < D; d++) {
        let acc = convB.data[d];
        for (let c = 0; c < 3; c++)
          for (let ky = 0; ky < p; ky++)
            for (let kx = 0; kx < p; kx++)
              acc +=
                conv.data[((d * 3 + c) * p + ky) * p + kx] * pixels[(c * S + py * p + ky) * S + px * p + kx];
        x[t * D + d] = acc + pos.data[t * D + d];
      }
    }
  const rms = v.normType === 'rms_norm';
  const states = [x];
  const H = v.numAttentionHeads;
  const hd = D / H;
  for (let l = 0; l < v.numHiddenLayers; l++) {
    const pre = `vision_tower.encoder.layer.${l}.`;
    const n1 = normRows(
      x,
      D,
      v.layerNormEps,
      req(pre + 'layernorm_before.weight'),
      W(pre + 'layernorm_before.bias'),
      rms,
    );
    const a = `${pre}attention.`;
    let q = linear(n1, N, req(a + 'q_proj.weight'), W(a + 'q_proj.bias'));
    let k = linear(n1, N, req(a + 'k_proj.weight'), W(a + 'k_proj.bias'));
    const vv = linear(n1, N, req(a + 'v_proj.weight'), W(a + 'v_proj.bias'));
    if (v.useQkNorm && !opts.qkNormPerHead) {
      q = normRows(q, D, 1e-6, req(a + 'q_norm.weight'), null, true);
      k = normRows(k, D, 1e-6, req(a + 'k_norm.weight'), null, true);
    } else if (v.useQkNorm) {
      // the WRONG convention (per head, as Qwen3's q_norm / k_norm): each head_dim slice normed on its own
      const perHead = (x0: Float64Array, w: T64) => {
        const y = new Float64Array(x0.length);
        for (let h = 0; h < H; h++) {
          const wh = { shape: [hd], data: w.data.subarray(h * hd, (h + 1) * hd) };
          for (let r = 0; r < N; r++) {
            const seg = normRows(x0.slice(r * D + h * hd, r * D + (h + 1) * hd), hd, 1e-6, wh, null, true);
            y.set(seg, r * D + h * hd);
          }
        }
        return y;
      };
      q = perHead(q, req(a + 'q_norm.weight'));
      k = perHead(k, req(a + 'k_norm.weight'));
    }
    const ctx = new Float64Array(N * D);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < N; i++) {
        const sc = new Float64Array(N);
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let e = 0; e < hd; e++) s += q[i * D + h * hd + e] * k[j * D + h * hd + e];
          sc[j] = s / Math.sqrt(hd);
        }
        const m = Math.max(...sc);
        let z = 0;
        for (let j = 0; j < N; j++) z += sc[j] = Math.exp(sc[j] - m);
        for (let e = 0; e < hd; e++) {
          let acc = 0;
          for (let j = 0; j < N; j++) acc += (sc[j] / z) * vv[j * D + h * hd + e];
          ctx[i * D + h * hd + e] = acc;
        }
      }
    const o = linear(ctx, N, req(a + 'projection_layer.weight'), req(a + 'projection_layer.bias'));
    const l1 = req(pre + 'lambda_1');
    const l2 = req(pre + 'lambda_2');
    const hres = x.map((xv, i) => xv + l1.data[i % D] * o[i]);
    const n2 = normRows(
      hres,
      D,
      v.layerNormEps,
      req(pre + 'layernorm_after.weight'),
      W(pre + 'layernorm_after.bias'),
      rms,
    );
    const f1 = linear(n2, N, req(pre + 'mlp.fc1.weight'), req(pre + 'mlp.fc1.bias')).map(gelu);
    const f2 = linear(f1, N, req(pre + 'mlp.fc2.weight'), req(pre + 'mlp.fc2.bias'));
    x = hres.map((hv, i) => hv + l2.data[i % D] * f2[i]);
    states.push(x);
  }
  let last: Float64Array;
  if (cfg.visionFeatureLayer === -1) {
    last = v.useMeanPooling
      ? x
      : normRows(
          x,
          D,
          v.layerNormEps,
          req('vision_tower.layernorm.weight'),
          req('vision_tower.layernorm.bias'),
          false,
        );
  } else {
    const L = v.numHiddenLayers;
    last = states[cfg.visionFeatureLayer < 0 ? L + 1 + cfg.visionFeatureLayer : cfg.visionFeatureLayer];
  }
  // drop CLS, pixel shuffle (dr outer, dc inner), projector
  const s = cfg.scaleFactor;
  const t = g / s;
  const C4 = s * s * D;
  const sh = new Float64Array(t * t * C4);
  for (let R = 0; R < t; R++)
    for (let C = 0; C < t; C++)
      for (let dr = 0; dr < s; dr++)
        for (let dc = 0; dc < s; dc++)
          for (let d = 0; d < D; d++)
            sh[(R * t + C) * C4 + (dr * s + dc) * D + d] =
              last[(1 + (s * R + dr) * g + (s * C + dc)) * D + d];
  const ln = normRows(
    sh,
    C4,
    1e-5,
    req('multi_modal_projector.layer_norm.weight'),
    req('multi_modal_projector.layer_norm.bias'),
    false,
  );
  const h1 = linear(
    ln,
    t * t,
    req('multi_modal_projector.linear_1.weight'),
    req('multi_modal_projector.linear_1.bias'),
  ).map(gelu);
  return linear(
    h1,
    t * t,
    req('multi_modal_projector.linear_2.weight'),
    req('multi_modal_projector.linear_2.bias'),
  );
}

// ---------------------------------------------------------------- weights and graph

async function fixtureWeights(): Promise<Map<string, T64>> {
  const src = new LocalSource(DIR);
  const index = await src.tensorIndex();
  const names = [...index.keys()].filter((n) => !n.startsWith('language_model'));
  const raw = await src.readTensors(names);
  const out = new Map<string, T64>();
  for (const [n, t] of raw) {
    if (!t.bytes) throw new Error(`${n} was not read`);
    const f = new Float32Array(t.bytes.slice().buffer);
    out.set(n, { shape: t.info.shape, data: Float64Array.from(f) });
  }
  return out;
}

/** A deterministic vector around `base` (no RNG: the test must be reproducible). */
const wave = (n: number, base: number, amp: number, phase: number) =>
  Float64Array.from({ length: n }, (_, i) => base + amp * Math.sin(1.7 * i + phase));

function asWeightTensors(ws: Map<string, T64>): Map<string, WeightTensor> {
  const m = new Map<string, WeightTensor>();
  for (const [name, t] of ws) {
    const bytes = new Uint8Array(Float32Array.from(t.data).buffer);
    m.set(name, {
      info: { name, dtype: 'F32', shape: t.shape, file: 'mem', begin: 0, end: bytes.length },
      bytes,
    });
  }
  return m;
}

async function graphVsReference(
  cfgJson: Json,
  ws: Map<string, T64>,
  opts: { qkNormPerHead?: boolean } = {},
): Promise<number> {
  const cfg = parseInternVLConfig(new ConfigReader(cfgJson, 'variant'));
  const px = parseNpy(readFileSync(join(EXP, 'pixel_values.npy')));
  const pixels = px.data as Float32Array;
  const session = await Session.create(buildInternVLVisionGraph(cfg, asWeightTensors(ws), 'variant'));
  const out = await session.run({ pixel_values: { data: pixels, shape: px.shape } });
  const got = out.f32('crop_features').data;
  await session.release();
  const per = 3 * cfg.vision.imageSize ** 2;
  let m = 0;
  const T = cfg.tokenGrid ** 2;
  const Hd = cfg.text.hiddenSize;
  for (let n = 0; n < px.shape[0]; n++) {
    const want = reference(
      cfg,
      (name) => ws.get(name) ?? null,
      pixels.subarray(n * per, (n + 1) * per),
      opts,
    );
    for (let i = 0; i < T * Hd; i++)
      m = Math.max(m, Math.abs(got[n * T * Hd + i] - want[i]) / Math.max(1, Math.abs(want[i])));
  }
  return m;
}

test('the float64 reference reproduces the fixture (so it can judge the variants)', async () => {
  const cfgJson = json(`${DIR}/config.json`);
  const cfg = parseInternVLConfig(new ConfigReader(cfgJson, DIR));
  const ws = await fixtureWeights();
  const px = parseNpy(readFileSync(join(EXP, 'pixel_values.npy')));
  const want = parseNpy(readFileSync(join(EXP, 'connector_output.npy'))).data as Float32Array;
  const per = 3 * 32 * 32;
  let m = 0;
  for (let n = 0; n < px.shape[0]; n++) {
    const r = reference(
      cfg,
      (name) => ws.get(name) ?? null,
      (px.data as Float32Array).subarray(n * per, (n + 1) * per),
    );
    for (let i = 0; i < r.length; i++)
      m = Math.max(
        m,
        Math.abs(r[i] - want[n * r.length + i]) / Math.max(1, Math.abs(want[n * r.length + i])),
      );
  }
  console.log(`  reference vs connector_output: maxdiff ${m.toExponential(2)}`);
  assert.ok(m <= TOL);
  // and the names the graph reads are exactly the fixture's vision + projector tensors
  const src = new LocalSource(DIR);
  const names = internvlVisionTensorNames(cfg, await src.tensorIndex(), DIR).sort();
  assert.deepEqual(names, [...ws.keys()].sort());
});

test('rms_norm + qk-norm over the whole width + no q/k/v bias + final LayerNorm (use_mean_pooling false)', async () => {
  const base = json(`${DIR}/config.json`);
  const vc = base['vision_config'] as Json;
  const cfgJson = {
    ...base,
    vision_config: {
      ...vc,
      norm_type: 'rms_norm',
      use_qk_norm: true,
      attention_bias: false,
      use_mean_pooling: false,
    },
  };
  const ws = await fixtureWeights();
  const D = 32;
  for (const l of [0, 1]) {
    const pre = `vision_tower.encoder.layer.${l}.`;
    for (const n of [
      'layernorm_before.bias',
      'layernorm_after.bias',
      'attention.q_proj.bias',
      'attention.k_proj.bias',
      'attention.v_proj.bias',
    ])
      ws.delete(pre + n);
    ws.set(pre + 'attention.q_norm.weight', { shape: [D], data: wave(D, 1, 0.3, l) });
    ws.set(pre + 'attention.k_norm.weight', { shape: [D], data: wave(D, 1, 0.3, l + 2) });
  }
  ws.set('vision_tower.layernorm.weight', { shape: [D], data: wave(D, 1, 0.2, 5) });
  ws.set('vision_tower.layernorm.bias', { shape: [D], data: wave(D, 0, 0.1, 7) });
  const d = await graphVsReference(cfgJson, ws);
  console.log(`  variant graph vs float64 reference: maxdiff ${d.toExponential(2)}`);
  assert.ok(d <= TOL, `maxdiff ${d}`);
  // pitfall 9: q/k norm per head (Qwen3-style) instead of over the whole width is another model
  const perHead = await graphVsReference(cfgJson, ws, { qkNormPerHead: true });
  console.log(`  against a per-head q/k norm: maxdiff ${perHead.toFixed(3)}`);
  assert.ok(perHead > TOL, 'a per-head q/k norm must not reproduce the features');
});

test('vision_feature_layer -2: the raw hidden state of layer 0, no later layer built', async () => {
  const base = json(`${DIR}/config.json`);
  const cfgJson = { ...base, vision_feature_layer: -2 };
  const ws = await fixtureWeights();
  const d = await graphVsReference(cfgJson, ws);
  console.log(`  feature layer -2 vs float64 reference: maxdiff ${d.toExponential(2)}`);
  assert.ok(d <= TOL);
  const cfg = parseInternVLConfig(new ConfigReader(cfgJson, 'variant'));
  const names = internvlVisionTensorNames(cfg, await new LocalSource(DIR).tensorIndex(), DIR);
  assert.ok(!names.some((n) => n.includes('encoder.layer.1.')), 'layer 1 is never read');
});
