/**
 * The Gemma 4 image path as one ONNX graph: patches -> Gemma4VisionModel (patch embedder, encoder with 2-D rope and
 * clipped linears, pooler) -> Gemma4MultimodalEmbedder (embed_vision). Mirrors transformers 5.12.1
 * models/gemma4/modeling_gemma4.py (Gemma4VisionPatchEmbedder, Gemma4VisionAttention, Gemma4VisionMLP,
 * Gemma4VisionEncoderLayer, Gemma4VisionPooler, Gemma4ClippableLinear, Gemma4RMSNorm, Gemma4MultimodalEmbedder),
 * as fixtures-modern README-gemma.md describes it stage by stage:
 *   pixel_values [n, 3 p²] (the REAL patches: padding keys are masked in HF, so the real rows' outputs do not
 *     depend on the padding rows, which are dropped before the graph), image_position_ids [n, 2] = (x, y)
 *   h = input_proj(2 (x - 0.5)) + table[0][x] + table[1][y]                                  [n, Hv]
 *   per layer: h += N_post_attn(attn(N_in(h)));  h += N_post_ffw(mlp(N_pre_ffw(h)))  (Gemma4RMSNorm: plain w)
 *     attn: q/k/v = clipped linears; q_norm, k_norm (w) and v_norm (no weight) per head over head_dim; 2-D rope
 *     (first half of head_dim rotated by x, second half by y, each rotate_half with inv_freq = θ^(-2i/(hd/2)));
 *     scores scale 1.0 (NO 1/sqrt(d)); o_proj clipped.  mlp: down(gelu_tanh(gate(x)) · up(x)), each clipped.
 *     A clipped linear clamps its input to [input_min, input_max] and its output to [output_min, output_max].
 *   pooler: token (R, C) = mean of patches [k R, k R + k) x [k C, k C + k) (raster order), × float32(sqrt(Hv));
 *     (standardize: (x - std_bias) · std_scale)                                                [T, Hv]
 *   embed_vision: RMSNorm without weight (eps = vision rms_norm_eps) -> embedding_projection (Hv -> H, no bias)
 *                                                                                              [T, H] = crop_features
 */
import { gemmaRmsNorm, type RmsScale } from '../../graph/rmsnorm.js';
import { activation, linear } from '../../graph/blocks.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { loadWeights, planWeights, TensorNaming, type Weights } from '../../graph/weights.js';
import type { TensorInfo, WeightTensor } from '../../source/types.js';
import { f32Sqrt } from '../../text/models.js';
import { FEATURES_OUTPUT, PIXEL_INPUT } from '../types.js';
import type { Gemma4Config, Gemma4VisionConfig } from './config.js';

/** 5.12.1 and the google/gemma-4-* repos: `model.vision_tower.*`, `model.embed_vision.*`. */
export const GEMMA4_VISION_NAMING = new TensorNaming({
  'vision_tower.': ['model.vision_tower.', 'vision_tower.'],
  'embed_vision.': ['model.embed_vision.', 'embed_vision.'],
});

export const POSITION_INPUT = 'image_position_ids';
/** [patch rows / k, k, patch cols / k, k, Hv]: the pooler's block view of the raster patch rows. */
export const POOL_GRID_INPUT = 'pool_grid';

export const GEMMA4_STAGES = {
  embeddings: 'vision.hidden_states.0',
  hiddenState: (i: number) => `vision.hidden_states.${i}`,
  pooled: 'vision.pooled',
  pooledScaled: 'vision.pooled_scaled',
  lastHiddenState: 'vision.last_hidden_state',
  embedNormed: 'embed_vision.normed',
} as const;

export interface Gemma4VisionOptions {
  expose?: readonly string[];
  /** Pitfall switches (tests only). */
  attentionScale?: number;
  skipPixelRescale?: boolean;
  normScale?: RmsScale;
  /** (row, col) instead of (x, y) positions. */
  swapPositions?: boolean;
}

/** Gemma4ClippableLinear: clamp input, linear (no bias), clamp output; `w` at the module (`.linear.weight`). */
function clippedLinear(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  inF: number,
  outF: number,
  clip: boolean,
  name: string,
): Value {
  const lim = (k: string) => w.get(k, []);
  const xin = clip
    ? g.op('Clip', [x, lim('input_min'), lim('input_max')], {}, { name: `${name}.in_clip` })[0]
    : x;
  // `<proj>.linear.weight` (Gemma4ClippableLinear, what 5.12.1 writes); a bare `<proj>.weight` is read too
  const lin = w.pp('linear').opt('weight', [outF, inF]) ? w.pp('linear') : w;
  const y = linear(g, lin, xin, inF, outF, `${name}.linear`, { bias: false });
  return clip ? g.op('Clip', [y, lim('output_min'), lim('output_max')], {}, { name })[0] : y;
}

/** rotate_half within each half of head_dim: [a, b | c, d] -> [-b, a | -d, c] (quarters of hd). x [n, h, hd]. */
function rotateHalves(g: GraphBuilder, x: Value, hd: number, name: string): Value {
  const q = hd / 4;
  const part = (i: number) => g.slice(x, [i * q], [(i + 1) * q], [2], undefined, `${name}.q${i}`);
  const [a, b, c, d] = [0, 1, 2, 3].map(part);
  return g.concat([g.neg(b, `${name}.nb`), a, g.neg(d, `${name}.nd`), c], 2, name); // [n, h, hd]
}

function build(g: GraphBuilder, w: Weights, cfg: Gemma4Config, opts: Gemma4VisionOptions): Value {
  const v: Gemma4VisionConfig = cfg.vision;
  const Hv = v.hiddenSize;
  const H = cfg.text.hiddenSize;
  const p = v.patchSize;
  const hd = v.headDim;
  const heads = v.numAttentionHeads;
  const clip = v.useClippedLinears;
  const eps = v.rmsNormEps;
  const scale = opts.normScale ?? 'plain';
  const tw = w.pp('vision_tower');
  const pixels = g.input(PIXEL_INPUT, 'float32', ['patches', 3 * p * p]); // [n, 3p²]
  const pos = g.input(POSITION_INPUT, 'int64', ['patches', 2]); // [n, 2] (x, y)
  const poolGrid = g.input(POOL_GRID_INPUT, 'int64', [5]);
  // ---- patch embedder
  const scaled = opts.skipPixelRescale
    ? pixels
    : g.mul(g.sub(pixels, 0.5, 'vision.pixels_centred'), 2, 'vision.pixels_scaled'); // 2 (x - 0.5)
  const proj = linear(g, tw.pp('patch_embedder.input_proj'), scaled, 3 * p * p, Hv, 'vision.input_proj', {
    bias: false,
  }); // [n, Hv]
  const P = v.positionEmbeddingSize;
  const table = tw.pp('patch_embedder').get('position_embedding_table', [2, P, Hv]); // [2, P, Hv]
  const [ix, iy] = opts.swapPositions ? [1, 0] : [0, 1];
  const col = (i: number, nm: string) =>
    g.squeeze(g.slice(pos, [i], [i + 1], [1], undefined, `${nm}.col`), [1], nm); // [n]
  const px = col(ix, 'vision.pos_x');
  const py = col(iy, 'vision.pos_y');
  const tab = (i: number) =>
    g.squeeze(
      g.slice(table, [i], [i + 1], [0], undefined, `vision.pos_table_${i}.slice`),
      [0],
      `vision.pos_table_${i}`,
    ); // [P, Hv]
  const posEmb = g.add(
    g.gather(tab(0), px, 0, 'vision.pos_emb_x'),
    g.gather(tab(1), py, 0, 'vision.pos_emb_y'),
    'vision.pos_emb',
  );
  let h = g.add(proj, posEmb, GEMMA4_STAGES.embeddings); // [n, Hv]
  const states = [h];
  // ---- 2-D rope tables: [n, 1, hd] cos / sin (x half, then y half)
  const quarter = hd / 4;
  const invFreq = Array.from({ length: quarter }, (_, i) =>
    Math.fround(1 / v.ropeTheta ** ((2 * i) / (hd / 2))),
  );
  const inv = g.initFloat32('vision.rope.inv_freq', new Float32Array(invFreq), [1, quarter]);
  const freqs = (axis: Value, nm: string) => {
    const f = g.mul(
      g.unsqueeze(g.cast(axis, 'float32', `${nm}.pos`), [1], `${nm}.pos_col`),
      inv,
      `${nm}.freqs`,
    ); // [n, hd/4]
    return g.concat([f, f], 1, `${nm}.emb`); // [n, hd/2]
  };
  const emb = g.concat([freqs(px, 'vision.rope.x'), freqs(py, 'vision.rope.y')], 1, 'vision.rope.emb'); // [n, hd]
  const cos = g.unsqueeze(g.op('Cos', [emb], {}, { name: 'vision.rope.cos_2d' })[0], [1], 'vision.rope.cos'); // [n, 1, hd]
  const sin = g.unsqueeze(g.op('Sin', [emb], {}, { name: 'vision.rope.sin_2d' })[0], [1], 'vision.rope.sin');
  const rope = (x: Value, nm: string) =>
    g.add(g.mul(x, cos, `${nm}.cos`), g.mul(rotateHalves(g, x, hd, `${nm}.rot`), sin, `${nm}.sin`), nm);
  for (let i = 0; i < v.numHiddenLayers; i++) {
    const lw = tw.pp(`encoder.layers.${i}`);
    const nm = `vision.layer.${i}`;
    const aw = lw.pp('self_attn');
    const x1 = gemmaRmsNorm(g, lw.pp('input_layernorm'), h, Hv, eps, scale, `${nm}.input_layernorm`);
    const headsOf = (t: Value, n2: string) => g.reshape(t, [0, heads, hd], n2); // [n, h, hd]
    const q0 = headsOf(
      clippedLinear(g, aw.pp('q_proj'), x1, Hv, heads * hd, clip, `${nm}.q_proj`),
      `${nm}.q_heads`,
    );
    const k0 = headsOf(
      clippedLinear(g, aw.pp('k_proj'), x1, Hv, heads * hd, clip, `${nm}.k_proj`),
      `${nm}.k_heads`,
    );
    const v0 = headsOf(
      clippedLinear(g, aw.pp('v_proj'), x1, Hv, heads * hd, clip, `${nm}.v_proj`),
      `${nm}.v_heads`,
    );
    const q = rope(gemmaRmsNorm(g, aw.pp('q_norm'), q0, hd, eps, scale, `${nm}.q_norm`), `${nm}.q_rope`);
    const k = rope(gemmaRmsNorm(g, aw.pp('k_norm'), k0, hd, eps, scale, `${nm}.k_norm`), `${nm}.k_rope`);
    const vv = gemmaRmsNorm(g, null, v0, hd, eps, 'none', `${nm}.v_norm`);
    const qh = g.transpose(q, [1, 0, 2], `${nm}.q_t`); // [h, n, hd]
    const kt = g.transpose(k, [1, 2, 0], `${nm}.k_t`); // [h, hd, n]
    const vh = g.transpose(vv, [1, 0, 2], `${nm}.v_t`); // [h, n, hd]
    let scores = g.matmul(qh, kt, `${nm}.scores`); // [h, n, n], scale 1.0
    if (opts.attentionScale !== undefined) scores = g.mul(scores, opts.attentionScale, `${nm}.scores_scaled`);
    const ctx = g.matmul(g.softmax(scores, -1, `${nm}.probs`), vh, `${nm}.ctx_heads`); // [h, n, hd]
    const merged = g.reshape(g.transpose(ctx, [1, 0, 2]), [0, heads * hd], `${nm}.ctx`); // [n, h hd]
    const attn = clippedLinear(g, aw.pp('o_proj'), merged, heads * hd, Hv, clip, `${nm}.o_proj`);
    const a2 = gemmaRmsNorm(
      g,
      lw.pp('post_attention_layernorm'),
      attn,
      Hv,
      eps,
      scale,
      `${nm}.post_attention_layernorm`,
    );
    h = g.add(h, a2, `${nm}.attn_residual`);
    const x2 = gemmaRmsNorm(
      g,
      lw.pp('pre_feedforward_layernorm'),
      h,
      Hv,
      eps,
      scale,
      `${nm}.pre_feedforward_layernorm`,
    );
    const mw = lw.pp('mlp');
    const I = v.intermediateSize;
    const gate = clippedLinear(g, mw.pp('gate_proj'), x2, Hv, I, clip, `${nm}.mlp.gate_proj`);
    const up = clippedLinear(g, mw.pp('up_proj'), x2, Hv, I, clip, `${nm}.mlp.up_proj`);
    const act = g.mul(activation(g, gate, v.hiddenActivation, `${nm}.mlp.act`), up, `${nm}.mlp.gated`);
    const down = clippedLinear(g, mw.pp('down_proj'), act, I, Hv, clip, `${nm}.mlp.down_proj`);
    const m2 = gemmaRmsNorm(
      g,
      lw.pp('post_feedforward_layernorm'),
      down,
      Hv,
      eps,
      scale,
      `${nm}.post_feedforward_layernorm`,
    );
    h = g.add(h, m2, GEMMA4_STAGES.hiddenState(i + 1)); // [n, Hv]
    states.push(h);
  }
  // ---- pooler
  const blocks = g.reshape(h, poolGrid, 'vision.pool_blocks'); // [R, k, C, k, Hv]
  const mean = g.reduce('ReduceMean', blocks, [1, 3], { keepdims: false, name: 'vision.pool_mean' }); // [R, C, Hv]
  const pooled = g.reshape(mean, [-1, Hv], GEMMA4_STAGES.pooled); // [T, Hv]
  const pooledScaled = g.mul(pooled, f32Sqrt(Hv), GEMMA4_STAGES.pooledScaled);
  let last: Value;
  if (v.standardize) {
    const bias = tw.get('std_bias', [Hv]);
    const sc = tw.get('std_scale', [Hv]);
    last = g.mul(g.sub(pooledScaled, bias, 'vision.standardize_centred'), sc, GEMMA4_STAGES.lastHiddenState);
  } else {
    last = g.identity(pooledScaled, GEMMA4_STAGES.lastHiddenState);
  }
  // ---- embed_vision
  const normed = gemmaRmsNorm(g, null, last, Hv, eps, 'none', GEMMA4_STAGES.embedNormed);
  return linear(g, w.pp('embed_vision.embedding_projection'), normed, Hv, H, 'embed_vision.image_features', {
    bias: false,
  }); // [T, H]
}

export function gemma4VisionTensorNames(
  cfg: Gemma4Config,
  index: ReadonlyMap<string, TensorInfo>,
  where: string,
): string[] {
  const g = new GraphBuilder({ name: 'gemma4-vision-plan' });
  const { weights, names } = planWeights(g, index, GEMMA4_VISION_NAMING, where);
  build(g, weights, cfg, {});
  return names();
}

export function buildGemma4VisionGraph(
  cfg: Gemma4Config,
  tensors: ReadonlyMap<string, WeightTensor>,
  where: string,
  opts: Gemma4VisionOptions = {},
): Uint8Array {
  const g = new GraphBuilder({ name: 'gemma4-vision' });
  const { weights } = loadWeights(g, tensors, GEMMA4_VISION_NAMING, where);
  const feats = build(g, weights, cfg, opts);
  const out = g.reshape(feats, [1, -1, cfg.text.hiddenSize], 'embed_vision.image_features_3d'); // [1, T, H]
  g.output(out, FEATURES_OUTPUT, [1, 'tokens', cfg.text.hiddenSize]);
  for (const name of opts.expose ?? []) g.output(g.value(name));
  return g.build();
}
