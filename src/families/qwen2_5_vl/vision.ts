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
 * cu_window_seqlens segment separately, which is the block-diagonal mask used here). The attention itself, the 2-D
 * rotary and its angles are Qwen2-VL's (src/graph/qwen2vl.ts); the window plan is index arithmetic (windows.ts).
 */
import type { WeightTensor, TensorInfo } from '../../source/types.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { activation, gatedMlp, linear, rmsNorm } from '../../graph/blocks.js';
import {
  FEATURES_OUTPUT,
  PIXEL_INPUT,
  QWEN2VL_VISION_NAMING,
  ROTARY_INPUT,
  visionAttention,
  visionRotaryCosSin,
} from '../../graph/qwen2vl.js';
import { loadWeights, planWeights, type Weights } from '../../graph/weights.js';
import type { Qwen2_5VLVisionSpec } from './config.js';

export const WINDOW_ORDER_INPUT = 'vision_window_patch_order';
export const WINDOW_IDS_INPUT = 'vision_window_ids';
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

/** Block-diagonal additive mask from the window of each row: 0 within a window, -inf across. ids [N] -> [N, N]. */
function windowMask(g: GraphBuilder, ids: Value): Value {
  const a = g.unsqueeze(ids, [1], 'vision.window.ids_col'); // [N, 1]
  const b = g.unsqueeze(ids, [0], 'vision.window.ids_row'); // [1, N]
  const same = g.op('Equal', [a, b], {}, { name: 'vision.window.same', outTypes: ['bool'] })[0]; // [N, N]
  const zero = g.constScalar(0);
  const negInf = g.constScalar(-Infinity);
  return g.op('Where', [same, zero, negInf], {}, { name: 'vision.window.mask', outTypes: ['float32'] })[0];
}

/** Qwen2_5_VLVisionBlock: x + attn(norm1 x, mask); then + mlp(norm2 x). `w` at `visual.blocks.{i}`. */
function visionBlock(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  rot: { cos: Value; sin: Value },
  mask: Value | undefined,
  spec: Qwen2_5VLVisionSpec,
  name: string,
): Value {
  const E = spec.hidden;
  const n1 = rmsNorm(g, w.pp('norm1'), x, E, VISION_RMS_EPS, `${name}.norm1`);
  const attnSpec = { embedDim: E, numHeads: spec.numHeads };
  const attn = visionAttention(g, w.pp('attn'), n1, rot.cos, rot.sin, attnSpec, `${name}.attn`, mask);
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
  const windowIds = g.input(WINDOW_IDS_INPUT, 'int64', ['patches']); // [N]
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
  const mask = conv.windows ? windowMask(g, windowIds) : undefined; // [N, N]
  const full = new Set(spec.fullAttBlocks);

  const states = [x0];
  for (let i = 0; i < spec.depth; i++) {
    const m = full.has(i) ? undefined : mask;
    states.push(visionBlock(g, w.pp(`blocks.${i}`), states[i], rot, m, spec, `vision.layer.${i}`));
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
