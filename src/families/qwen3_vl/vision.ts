/**
 * The Qwen3-VL vision transformer, its patch merger and the DeepStack mergers as one ONNX graph:
 *   pixel_values [N, C*T*p*p] (2x2-merge-block row order, as the processor writes them)
 *     -> patch_embed (Conv3d, kernel = stride, WITH bias: one matrix product per row plus the bias)
 *     -> + the learned position table, bilinearly interpolated (corner indices and weights from posembed.ts)
 *     -> depth x block: x + proj(attn(LayerNorm x)) with Qwen2-VL's 2-D rotary, full attention;
 *        x + linear_fc2(gelu_tanh(linear_fc1(LayerNorm x)))
 *     -> merger: LayerNorm over D per patch, 4 rows -> 1, linear_fc1 -> GELU (erf) -> linear_fc2
 *        -> crop_features [1, N/4, hidden] (what the projector-level lens shows)
 *     -> DeepStack merger k on the output of block deepstack_visual_indexes[k]: 4 rows -> 1 FIRST, then LayerNorm over
 *        4D, linear_fc1 -> GELU (erf) -> linear_fc2 -> `deepstack_features.{k}` [N/4, hidden]; the LLM adds feature k
 *        to its residual stream at the image positions after decoder layer k (the deep lens's job).
 * Mirrors transformers 5.x models/qwen3_vl/modeling_qwen3_vl.py (Qwen3VLVisionPatchEmbed, Qwen3VLVisionBlock,
 * Qwen3VLVisionMLP, Qwen3VLVisionPatchMerger with use_postshuffle_norm False / True, Qwen3VLVisionModel.forward).
 * One image per run, so attention is full (cu_seqlens has one segment).
 */
import type { WeightTensor, TensorInfo } from '../../source/types.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { activation, layerNorm, linear } from '../../graph/blocks.js';
import { FEATURES_OUTPUT, PIXEL_INPUT } from '../types.js';
import {
  QWEN2VL_VISION_NAMING,
  ROTARY_INPUT,
  visionAttention,
  visionRotaryCosSin,
} from '../qwen2_vl/vision.js';
import { loadWeights, planWeights, type Weights } from '../../graph/weights.js';
import type { Qwen3VLVisionSpec } from './config.js';

export const POS_INDEX_INPUT = 'vision_pos_embed_index';
export const POS_WEIGHT_INPUT = 'vision_pos_embed_weight';
/** `deepstack_features.{k}` [N/4, hidden]: DeepStack merger k's output, raster order like crop_features. */
export const deepstackOutput = (k: number): string => `deepstack_features.${k}`;

/** nn.LayerNorm(eps=1e-6) in the vision blocks and both merger kinds (not configurable). */
const VISION_LN_EPS = 1e-6;

/**
 * Deliberately wrong conventions, for the pitfall tests only: `patchBias: false` drops the Conv3d bias (Qwen2-VL's patch
 * embedding had none); `deepstackFromBlockInput: true` feeds DeepStack merger k the INPUT of its block (one block early).
 */
export interface Qwen3VLConventions {
  patchBias?: boolean;
  deepstackFromBlockInput?: boolean;
}

export interface Qwen3VLGraphOptions {
  /** Also output `vision.patch_embeds`, `vision.pos_embeds`, `vision.hidden_states.{i}` and `merger.input`. */
  exposeHiddenStates?: boolean;
  conventions?: Qwen3VLConventions;
  where?: string;
}

/** Qwen3VLVisionBlock: x + attn(norm1 x); then + linear_fc2(act(linear_fc1(norm2 x))). `w` at `blocks.{i}`. */
function visionBlock(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  rot: { cos: Value; sin: Value },
  spec: Qwen3VLVisionSpec,
  name: string,
): Value {
  const E = spec.hidden;
  const n1 = layerNorm(g, w.pp('norm1'), x, E, VISION_LN_EPS, `${name}.norm1`);
  const attnSpec = { embedDim: E, numHeads: spec.numHeads };
  const h = g.add(
    x,
    visionAttention(g, w.pp('attn'), n1, rot.cos, rot.sin, attnSpec, `${name}.attn`),
    `${name}.attn_residual`,
  );
  const n2 = layerNorm(g, w.pp('norm2'), h, E, VISION_LN_EPS, `${name}.norm2`);
  const f1 = linear(g, w.pp('mlp.linear_fc1'), n2, E, spec.intermediate, `${name}.mlp.linear_fc1`); // [N, I]
  const a = activation(g, f1, spec.hiddenAct, `${name}.mlp.act`);
  const f2 = linear(g, w.pp('mlp.linear_fc2'), a, spec.intermediate, E, `${name}.mlp.linear_fc2`); // [N, E]
  return g.add(h, f2, `${name}.out`); // [N, E]
}

/** Qwen3VLVisionPatchMerger's MLP: linear_fc2(GELU(linear_fc1 x)), x [N/4, 4E] -> [N/4, D]. */
function mergerMlp(g: GraphBuilder, w: Weights, x: Value, spec: Qwen3VLVisionSpec, name: string): Value {
  const C = spec.hidden * spec.spatialMergeSize ** 2;
  const h = linear(g, w.pp('linear_fc1'), x, C, C, `${name}.linear_fc1`); // [N/4, 4E]
  const a = activation(g, h, 'gelu', `${name}.act`); // nn.GELU(): the exact erf form
  return linear(g, w.pp('linear_fc2'), a, C, spec.outHidden, `${name}.linear_fc2`); // [N/4, D]
}

function compose(g: GraphBuilder, w: Weights, spec: Qwen3VLVisionSpec, opts: Qwen3VLGraphOptions): void {
  const conv = { patchBias: true, deepstackFromBlockInput: false, ...opts.conventions };
  const E = spec.hidden;
  const hd = E / spec.numHeads;
  const m2 = spec.spatialMergeSize ** 2;
  const K = spec.inChannels * spec.temporalPatchSize * spec.patchSize ** 2; // C*T*p*p
  const pixels = g.input(PIXEL_INPUT, 'float32', ['patches', K]); // [N, K]
  const angles = g.input(ROTARY_INPUT, 'float32', ['patches', hd / 2]); // [N, hd/2]
  const posIdx = g.input(POS_INDEX_INPUT, 'int64', [4, 'patches']); // [4, N]
  const posW = g.input(POS_WEIGHT_INPUT, 'float32', [4, 'patches']); // [4, N]

  // Qwen3VLVisionPatchEmbed: Conv3d(C -> E, kernel = stride = (T, p, p), bias=True) = row @ W_flatᵀ + b.
  const convW = w.get('patch_embed.proj.weight', [
    E,
    spec.inChannels,
    spec.temporalPatchSize,
    spec.patchSize,
    spec.patchSize,
  ]);
  const bias = conv.patchBias ? w.get('patch_embed.proj.bias', [E]) : null;
  const wFlat = g.reshape(convW, [E, K], 'vision.patch_embed.weight_2d'); // [E, K]
  const embeds = g.gemm(pixels, wFlat, bias, { transB: true, name: 'vision.patch_embeds' }); // [N, E]

  // fast_pos_embed_interpolate: pos_embed(idx) * weight, summed over the 4 corners in order 0 + 1 + 2 + 3.
  const table = w.get('pos_embed.weight', [spec.numPositionEmbeddings, E]); // [side², E]
  const corners = g.mul(
    g.gather(table, posIdx, 0, 'vision.pos_embed.corners'),
    g.unsqueeze(posW, [2]),
    'vision.pos_embed.weighted',
  ); // [4, N, E]
  const corner = (k: number) =>
    g.squeeze(g.slice(corners, [k], [k + 1], [0]), [0], `vision.pos_embed.corner_${k}`); // [N, E]
  let pos = corner(0);
  for (let k = 1; k < 4; k++)
    pos = g.add(pos, corner(k), k === 3 ? 'vision.pos_embeds' : `vision.pos_embed.sum_${k}`);
  const x0 = g.add(embeds, pos, 'vision.embeddings'); // [N, E]

  const rot = visionRotaryCosSin(g, angles);
  const states = [x0];
  for (let i = 0; i < spec.depth; i++) {
    states.push(visionBlock(g, w.pp(`blocks.${i}`), states[i], rot, spec, `vision.layer.${i}`));
  }

  // Main merger (use_postshuffle_norm=False): LayerNorm over E per patch, then .view(-1, 4E).
  const mw = w.pp('merger');
  const normed = layerNorm(g, mw.pp('norm'), states[spec.depth], E, VISION_LN_EPS, 'merger.norm'); // [N, E]
  const mergedIn = g.reshape(normed, [-1, m2 * E], 'merger.input'); // [N/4, 4E]
  const out = mergerMlp(g, mw, mergedIn, spec, 'merger'); // [N/4, D]
  g.output(g.unsqueeze(out, [0], 'merger.out'), FEATURES_OUTPUT, [1, 'tokens', spec.outHidden]);

  // DeepStack mergers (use_postshuffle_norm=True): .view(-1, 4E) first, then LayerNorm over 4E.
  spec.deepstackIndexes.forEach((layer, k) => {
    const dw = w.pp(`deepstack_merger_list.${k}`);
    const src = states[conv.deepstackFromBlockInput ? layer : layer + 1]; // output of block `layer`
    const viewed = g.reshape(src, [-1, m2 * E], `deepstack.${k}.input`); // [N/4, 4E]
    const n = layerNorm(g, dw.pp('norm'), viewed, m2 * E, VISION_LN_EPS, `deepstack.${k}.norm`);
    g.output(mergerMlp(g, dw, n, spec, `deepstack.${k}`), deepstackOutput(k), ['tokens', spec.outHidden]);
  });
  if (opts.exposeHiddenStates) {
    g.output(embeds);
    g.output(pos);
    states.forEach((s, i) => g.output(g.identity(s, `vision.hidden_states.${i}`)));
    g.output(mergedIn);
  }
}

/** The checkpoint tensors the Qwen3-VL image path needs, checked for presence and shape (nothing read). */
export function qwen3vlVisionTensorNames(
  spec: Qwen3VLVisionSpec,
  index: ReadonlyMap<string, TensorInfo>,
  where = 'checkpoint',
): string[] {
  const g = new GraphBuilder({ name: 'plan' });
  const plan = planWeights(g, index, QWEN2VL_VISION_NAMING, where);
  compose(g, plan.weights.pp('visual'), spec, {});
  return plan.names();
}

/** Builds the Qwen3-VL image-path graph from the tensors read for `qwen3vlVisionTensorNames`. */
export function buildQwen3VLVisionGraph(
  spec: Qwen3VLVisionSpec,
  tensors: ReadonlyMap<string, WeightTensor>,
  opts: Qwen3VLGraphOptions = {},
): Uint8Array {
  const where = opts.where ?? 'checkpoint';
  const g = new GraphBuilder({ name: 'qwen3_vl_vision' });
  const load = loadWeights(g, tensors, QWEN2VL_VISION_NAMING, where);
  compose(g, load.weights.pp('visual'), spec, opts);
  return g.build();
}
