/**
 * The Qwen2.5-VL vision transformer and patch merger as one ONNX graph:
 *   pixel_values [N, C*T*p*p] (raster merge-unit order, as the processor writes them)
 *     -> patch_embed (Conv3d, kernel = stride, no bias: one matrix product per row)
 *     -> window order: the rows of each 2x2 merge unit gathered by window_index (the rotary angles likewise)
 *     -> depth x block: x + proj(attn(RMSNorm x)), attention within each window, or over the whole image for the
 *        blocks in fullatt_block_indexes; x + down(silu(gate n) * up n), every linear with a bias
 *     -> merger: RMSNorm ln_q, 4 consecutive rows concatenated, mlp.0 -> GELU (erf) -> mlp.2
 *     -> reverse: merger_out[argsort(window_index)], back to raster order -> crop_features [1, N/4, hidden]
 * Mirrors transformers 5.x models/qwen2_5_vl/modeling_qwen2_5_vl.py (Qwen2_5_VisionPatchEmbed, Qwen2_5_VLVisionBlock,
 * Qwen2_5_VLMLP, Qwen2_5_VLPatchMerger, Qwen2_5_VisionTransformerPretrainedModel.forward; eager attention runs each
 * cu_window_seqlens segment separately, which the padded windows here reproduce). The attention itself, the 2-D
 * rotary and its angles are Qwen2-VL's (src/graph/qwen2vl.ts); the window plan is index arithmetic (windows.ts). The
 * windowed blocks gather their rows into B padded windows of S = (window_size / patch)² slots and attend in one batched
 * product [B, heads, S, S], so their cost grows with the image, not with its square.
 */
import type { WeightTensor, TensorInfo } from '../../source/types.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { activation, gatedMlp, linear, rmsNorm } from '../../graph/blocks.js';
import { FEATURES_OUTPUT, PIXEL_INPUT } from '../types.js';
import {
  QWEN2VL_VISION_NAMING,
  ROTARY_INPUT,
  visionAttention,
  visionRotaryCosSin,
} from '../qwen2_vl/vision.js';
import { loadWeights, planWeights, type Weights } from '../../graph/weights.js';
import type { Qwen2_5VLVisionSpec } from './config.js';
import { windowSlots } from './windows.js';

export const WINDOW_ORDER_INPUT = 'vision_window_patch_order';
export const WINDOW_SLOTS_INPUT = 'vision_window_slots';
export const WINDOW_KEY_BIAS_INPUT = 'vision_window_key_bias';
export const WINDOW_ROWS_INPUT = 'vision_window_rows';
export const WINDOW_REVERSE_INPUT = 'vision_window_reverse';

/** Qwen2RMSNorm(hidden, eps=1e-6) in every vision block and in the merger (not configurable). */
const VISION_RMS_EPS = 1e-6;

/**
 * Deliberately wrong conventions, for the pitfall tests only (each must fail the comparison with the fixtures):
 * `windowOrder: false` feeds the raster rows to the windowed blocks and skips the reverse; `reverse: false` keeps the
 * merger output in window order; `lnq: 'layernorm'` uses a (bias-free) LayerNorm as Qwen2-VL's merger did;
 * `windows: false` attends over the whole image in every block.
 */
export interface Qwen2_5VLConventions {
  windowOrder?: boolean;
  reverse?: boolean;
  lnq?: 'rmsnorm' | 'layernorm';
  windows?: boolean;
}

export interface Qwen2_5VLGraphOptions {
  /** Also output `vision.patch_embeds` (raster), `vision.hidden_states.{i}` (window order) and `merger.input`. */
  exposeHiddenStates?: boolean;
  conventions?: Qwen2_5VLConventions;
  where?: string;
}

/**
 * The windowed blocks' layout: rows gathered into B windows of S slots (padded), attention batched over the windows
 * with the padding keys masked, then gathered back (windows.ts windowGraphInputs).
 */
interface WindowLayout {
  slots: Value; // [B*S] int64
  rows: Value; // [N] int64
  keyBias: Value; // [B, 1, 1, S]
  size: number; // S
  cos: Value; // [B*S, 1, hd], the rotary cos/sin in slot layout
  sin: Value;
}

/**
 * Qwen2_5_VLVisionBlock: x + attn(norm1 x); then + mlp(norm2 x). `w` at `visual.blocks.{i}`. With `win` the attention
 * runs per window (rows in slot layout); without, over the whole image.
 */
function visionBlock(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  rot: { cos: Value; sin: Value },
  win: WindowLayout | undefined,
  spec: Qwen2_5VLVisionSpec,
  name: string,
): Value {
  const E = spec.hidden;
  const n1 = rmsNorm(g, w.pp('norm1'), x, E, VISION_RMS_EPS, `${name}.norm1`);
  const attnSpec = { embedDim: E, numHeads: spec.numHeads };
  let attn: Value;
  if (win) {
    const inSlots = g.gather(n1, win.slots, 0, `${name}.attn.in_windows`); // [B*S, E]
    const segments = { size: win.size, keyBias: win.keyBias };
    const out = visionAttention(
      g,
      w.pp('attn'),
      inSlots,
      win.cos,
      win.sin,
      attnSpec,
      `${name}.attn`,
      segments,
    );
    attn = g.gather(out, win.rows, 0, `${name}.attn.from_windows`); // [N, E]
  } else {
    attn = visionAttention(g, w.pp('attn'), n1, rot.cos, rot.sin, attnSpec, `${name}.attn`);
  }
  const h = g.add(x, attn, `${name}.attn_residual`); // [N, E]
  const n2 = rmsNorm(g, w.pp('norm2'), h, E, VISION_RMS_EPS, `${name}.norm2`);
  const mlpSpec = { hidden: E, intermediate: spec.intermediate, act: spec.hiddenAct, bias: true };
  return g.add(h, gatedMlp(g, w.pp('mlp'), n2, mlpSpec, `${name}.mlp`), `${name}.out`); // [N, E]
}

function compose(g: GraphBuilder, w: Weights, spec: Qwen2_5VLVisionSpec, opts: Qwen2_5VLGraphOptions): void {
  const conv = { windowOrder: true, reverse: true, lnq: 'rmsnorm', windows: true, ...opts.conventions };
  const E = spec.hidden;
  const hd = E / spec.numHeads;
  const m2 = spec.spatialMergeSize ** 2;
  const K = spec.inChannels * spec.temporalPatchSize * spec.patchSize ** 2; // C*T*p*p
  const pixels = g.input(PIXEL_INPUT, 'float32', ['patches', K]); // [N, K]
  const angles = g.input(ROTARY_INPUT, 'float32', ['patches', hd / 2]); // [N, hd/2], raster order
  const order = g.input(WINDOW_ORDER_INPUT, 'int64', ['patches']); // [N]
  const slots = g.input(WINDOW_SLOTS_INPUT, 'int64', ['slots']); // [B*S]
  const keyBias = g.input(WINDOW_KEY_BIAS_INPUT, 'float32', ['slots']); // [B*S]
  const rows = g.input(WINDOW_ROWS_INPUT, 'int64', ['patches']); // [N]
  const reverse = g.input(WINDOW_REVERSE_INPUT, 'int64', ['tokens']); // [N/4]

  // Qwen2_5_VisionPatchEmbed: Conv3d(C -> E, kernel = stride = (T, p, p), bias=False) = row @ W_flatᵀ.
  const convW = w.get('patch_embed.proj.weight', [
    E,
    spec.inChannels,
    spec.temporalPatchSize,
    spec.patchSize,
    spec.patchSize,
  ]);
  const wFlat = g.reshape(convW, [E, K], 'vision.patch_embed.weight_2d'); // [E, K]
  const embeds = g.gemm(pixels, wFlat, null, { transB: true, name: 'vision.patch_embeds' }); // [N, E]

  // hidden_states.reshape(N/4, 4, E)[window_index].reshape(N, E), and rotary_pos_emb the same way: as one Gather of
  // patch rows whose index keeps each unit's 4 rows together.
  const x0 = conv.windowOrder ? g.gather(embeds, order, 0, 'vision.window_ordered') : embeds; // [N, E]
  const ang = conv.windowOrder ? g.gather(angles, order, 0, 'vision.rotary.window_ordered') : angles;
  const rot = visionRotaryCosSin(g, ang);
  const S = windowSlots(spec);
  const win: WindowLayout = {
    slots,
    rows,
    keyBias: g.reshape(keyBias, [-1, 1, 1, S], 'vision.window.key_bias'), // [B, 1, 1, S]
    size: S,
    cos: g.gather(rot.cos, slots, 0, 'vision.window.cos'), // [B*S, 1, hd]
    sin: g.gather(rot.sin, slots, 0, 'vision.window.sin'),
  };
  const full = new Set(spec.fullAttBlocks);

  const states = [x0];
  for (let i = 0; i < spec.depth; i++) {
    const wl = full.has(i) || !conv.windows ? undefined : win;
    states.push(visionBlock(g, w.pp(`blocks.${i}`), states[i], rot, wl, spec, `vision.layer.${i}`));
  }
  const last = states[spec.depth]; // [N, E], window order

  // Qwen2_5_VLPatchMerger: ln_q (RMSNorm), .view(-1, 4E), mlp.0 -> GELU -> mlp.2.
  const mw = w.pp('merger');
  const lnq =
    conv.lnq === 'rmsnorm'
      ? rmsNorm(g, mw.pp('ln_q'), last, E, VISION_RMS_EPS, 'merger.ln_q')
      : g.layerNorm(last, mw.pp('ln_q').get('weight', [E]), null, {
          epsilon: VISION_RMS_EPS,
          name: 'merger.ln_q',
        });
  const mergedIn = g.reshape(lnq, [-1, m2 * E], 'merger.input'); // [N/4, 4E]
  const h = linear(g, mw.pp('mlp.0'), mergedIn, m2 * E, m2 * E, 'merger.mlp.0'); // [N/4, 4E]
  const a = activation(g, h, 'gelu', 'merger.mlp.act'); // nn.GELU(): the exact erf form
  const out = linear(g, mw.pp('mlp.2'), a, m2 * E, spec.outHidden, 'merger.mlp.2'); // [N/4, D], window order
  const raster = conv.windowOrder && conv.reverse ? g.gather(out, reverse, 0, 'merger.reversed') : out;
  const features = g.unsqueeze(raster, [0], 'merger.out'); // [1, N/4, D]: one "crop"
  g.output(features, FEATURES_OUTPUT, [1, 'tokens', spec.outHidden]);
  if (opts.exposeHiddenStates) {
    g.output(embeds);
    states.forEach((s, i) => g.output(g.identity(s, `vision.hidden_states.${i}`)));
    g.output(mergedIn);
  }
}

/** The checkpoint tensors the Qwen2.5-VL image path needs, checked for presence and shape (nothing read). */
export function qwen2_5vlVisionTensorNames(
  spec: Qwen2_5VLVisionSpec,
  index: ReadonlyMap<string, TensorInfo>,
  where = 'checkpoint',
): string[] {
  const g = new GraphBuilder({ name: 'plan' });
  const plan = planWeights(g, index, QWEN2VL_VISION_NAMING, where);
  compose(g, plan.weights.pp('visual'), spec, {});
  return plan.names();
}

/** Builds the Qwen2.5-VL image-path graph from the tensors read for `qwen2_5vlVisionTensorNames`. */
export function buildQwen2_5VLVisionGraph(
  spec: Qwen2_5VLVisionSpec,
  tensors: ReadonlyMap<string, WeightTensor>,
  opts: Qwen2_5VLGraphOptions = {},
): Uint8Array {
  const where = opts.where ?? 'checkpoint';
  const g = new GraphBuilder({ name: 'qwen2_5_vl_vision' });
  const load = loadWeights(g, tensors, QWEN2VL_VISION_NAMING, where);
  compose(g, load.weights.pp('visual'), spec, opts);
  return g.build();
}
