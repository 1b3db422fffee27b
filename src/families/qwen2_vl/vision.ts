/**
 * The Qwen2-VL vision transformer and patch merger as one ONNX graph:
 *   pixel_values [N, C*T*p*p] (flattened patch rows, block-major) + vision_rotary_angles [N, head_dim/2]
 *     -> patch_embed (Conv3d with kernel = stride, i.e. one matrix product per row, no bias)
 *     -> depth x block: x + proj(attn(norm1 x)) with the 2-D rotary on q and k; x + fc2(act(fc1(norm2 x)))
 *     -> merger: ln_q, 4 consecutive rows (one 2x2 block) concatenated, mlp.0 -> GELU (erf) -> mlp.2
 *     -> crop_features [1, N/4, hidden]
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/qwen2_vl/modeling_qwen2_vl.py:
 * PatchEmbed, VisionAttention (eager path: q k^T / sqrt(head_dim), softmax in float32), apply_rotary_pos_emb_vision,
 * Qwen2VLVisionBlock, PatchMerger, Qwen2VisionTransformerPretrainedModel.forward. One image per run, so attention is
 * full (cu_seqlens has one segment and the block-diagonal mask is all zeros). The rotary angles (rot_pos_emb) are
 * index arithmetic and are computed in TS (`visionRotaryAngles`); cos/sin and everything after happen here.
 */
import { UnsupportedModelError } from '../../errors.js';
import { activation, layerNorm, linear } from '../../graph/blocks.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { loadWeights, planWeights, TensorNaming, type Weights } from '../../graph/weights.js';
import type { NamedTensor } from '../../runtime/session.js';
import type { TensorInfo, WeightTensor } from '../../source/types.js';
import { FEATURES_OUTPUT, PIXEL_INPUT } from '../types.js';

/** The vision settings the graph needs (Qwen2VLVisionConfig, plus the merger's output = the text hidden size). */
export interface Qwen2VLVisionSpec {
  depth: number;
  embedDim: number;
  numHeads: number;
  /** int(embed_dim * mlp_ratio). */
  mlpHidden: number;
  hiddenAct: string;
  inChannels: number;
  patchSize: number;
  temporalPatchSize: number;
  spatialMergeSize: number;
  /** Merger output (vision_config.hidden_size), which must equal the text hidden size. */
  outHidden: number;
}

/** Qwen2-VL naming: `visual.` (<= 4.51) and `model.visual.` (>= 4.52's _checkpoint_conversion_mapping). */
export const QWEN2VL_VISION_NAMING = new TensorNaming({
  'visual.': ['visual.', 'model.visual.'],
});

export const ROTARY_INPUT = 'vision_rotary_angles';

/** Vision block LayerNorms: nn.LayerNorm(embed_dim, eps=1e-6) in Qwen2VLVisionBlock and PatchMerger (not configurable). */
const VISION_LN_EPS = 1e-6;
/** VisionRotaryEmbedding(head_dim // 2) default theta (Qwen2VisionTransformerPretrainedModel.__init__). */
const VISION_ROPE_THETA = 10000;

/** rotate_half: [x1, x2] -> [-x2, x1] over the last axis of size d. */
function rotateHalf(g: GraphBuilder, x: Value, d: number, name: string): Value {
  const big = Number.MAX_SAFE_INTEGER;
  const x1 = g.slice(x, [0], [d / 2], [-1], undefined, `${name}.x1`);
  const x2 = g.slice(x, [d / 2], [big], [-1], undefined, `${name}.x2`);
  return g.concat([g.neg(x2, `${name}.neg_x2`), x1], -1, name);
}

/**
 * VisionAttention (eager). x [N, E] -> [N, E]; cos/sin [N, 1, hd] broadcast over heads.
 * qkv is reshaped (N, 3, heads, hd) so the fused weight's rows are q | k | v, each head-major.
 */
function visionAttention(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  cos: Value,
  sin: Value,
  spec: Qwen2VLVisionSpec,
  name: string,
): Value {
  const E = spec.embedDim;
  const H = spec.numHeads;
  const hd = E / H; // head_dim
  const qkv = linear(g, w.pp('qkv'), x, E, 3 * E, `${name}.qkv`); // [N, 3E]
  const split = g.transpose(g.reshape(qkv, [0, 3, H, hd]), [1, 0, 2, 3], `${name}.qkv_split`); // [3, N, H, hd]
  const pick = (i: number, n: string) => g.gather(split, g.constInt64([i]), 0, `${name}.${n}_raw`); // [1, N, H, hd]
  const rope = (t: Value, n: string) => {
    const t3 = g.reshape(t, [-1, H, hd], `${name}.${n}_3d`); // [N, H, hd]
    const rot = rotateHalf(g, t3, hd, `${name}.${n}_rot_half`); // [N, H, hd]
    return g.add(g.mul(t3, cos), g.mul(rot, sin), `${name}.${n}_rope`); // [N, H, hd]
  };
  const q = g.transpose(rope(pick(0, 'q'), 'q'), [1, 0, 2], `${name}.q_heads`); // [H, N, hd]
  const kt = g.transpose(rope(pick(1, 'k'), 'k'), [1, 2, 0], `${name}.k_heads_t`); // [H, hd, N]
  const v = g.transpose(g.reshape(pick(2, 'v'), [-1, H, hd]), [1, 0, 2], `${name}.v_heads`); // [H, N, hd]
  const scores = g.div(g.matmul(q, kt), Math.sqrt(hd), `${name}.scores`); // [H, N, N]
  const probs = g.softmax(scores, -1, `${name}.probs`); // [H, N, N]
  const ctx = g.matmul(probs, v, `${name}.ctx_heads`); // [H, N, hd]
  const merged = g.reshape(g.transpose(ctx, [1, 0, 2]), [-1, E], `${name}.ctx`); // [N, E]
  return linear(g, w.pp('proj'), merged, E, E, `${name}.out`); // [N, E]
}

/** Qwen2VLVisionBlock: x + attn(norm1 x); then + mlp(norm2 x). `w` at `visual.blocks.{i}`. */
function visionBlock(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  cos: Value,
  sin: Value,
  spec: Qwen2VLVisionSpec,
  name: string,
): Value {
  const E = spec.embedDim;
  const n1 = layerNorm(g, w.pp('norm1'), x, E, VISION_LN_EPS, `${name}.norm1`);
  const h = g.add(
    x,
    visionAttention(g, w.pp('attn'), n1, cos, sin, spec, `${name}.attn`),
    `${name}.attn_residual`,
  );
  const n2 = layerNorm(g, w.pp('norm2'), h, E, VISION_LN_EPS, `${name}.norm2`);
  const f1 = linear(g, w.pp('mlp.fc1'), n2, E, spec.mlpHidden, `${name}.mlp.fc1`); // [N, I]
  const a = activation(g, f1, spec.hiddenAct, `${name}.mlp.act`);
  const f2 = linear(g, w.pp('mlp.fc2'), a, spec.mlpHidden, E, `${name}.mlp.fc2`); // [N, E]
  return g.add(h, f2, `${name}.out`); // [N, E]
}

export interface Qwen2VLGraphOptions {
  /** Also output `vision.hidden_states.{i}` ([N, E], patch embed then each block) and `merger.input` ([N/4, 4E]). */
  exposeHiddenStates?: boolean;
  where?: string;
}

function compose(g: GraphBuilder, w: Weights, spec: Qwen2VLVisionSpec, opts: Qwen2VLGraphOptions): void {
  const E = spec.embedDim;
  const H = spec.numHeads;
  const hd = E / H;
  const m2 = spec.spatialMergeSize ** 2;
  const K = spec.inChannels * spec.temporalPatchSize * spec.patchSize ** 2; // C*T*p*p
  const pixels = g.input(PIXEL_INPUT, 'float32', ['patches', K]); // [N, K]
  const angles = g.input(ROTARY_INPUT, 'float32', ['patches', hd / 2]); // [N, hd/2]

  // PatchEmbed: Conv3d(C -> E, kernel = stride = (T, p, p), no bias) on each row viewed as (C, T, p, p) = row @ W_flatᵀ.
  const conv = w.get('patch_embed.proj.weight', [
    E,
    spec.inChannels,
    spec.temporalPatchSize,
    spec.patchSize,
    spec.patchSize,
  ]);
  const wFlat = g.reshape(conv, [E, K], 'vision.patch_embed.weight_2d'); // [E, K]
  const x0 = g.gemm(pixels, wFlat, null, { transB: true, name: 'vision.patch_embed' }); // [N, E]

  // apply_rotary_pos_emb_vision: cos/sin of the angles, tiled twice to head_dim, broadcast over heads.
  const tile = (v: Value, n: string) =>
    g.unsqueeze(g.concat([v, v], -1, `vision.rotary.${n}_tiled`), [1], `vision.rotary.${n}`); // [N, 1, hd]
  const cos = tile(g.op('Cos', [angles], {}, { name: 'vision.rotary.cos_half' })[0], 'cos');
  const sin = tile(g.op('Sin', [angles], {}, { name: 'vision.rotary.sin_half' })[0], 'sin');

  const states = [x0];
  for (let i = 0; i < spec.depth; i++) {
    states.push(visionBlock(g, w.pp(`blocks.${i}`), states[i], cos, sin, spec, `vision.layer.${i}`));
  }
  const last = states[spec.depth]; // [N, E]

  // PatchMerger: ln_q, then .view(-1, 4E): rows 4k..4k+3 are one 2x2 block in (0,0), (0,1), (1,0), (1,1) order.
  const mw = w.pp('merger');
  const lnq = layerNorm(g, mw.pp('ln_q'), last, E, VISION_LN_EPS, 'merger.ln_q'); // [N, E]
  const mergedIn = g.reshape(lnq, [-1, m2 * E], 'merger.input'); // [N/4, 4E]
  const h = linear(g, mw.pp('mlp.0'), mergedIn, m2 * E, m2 * E, 'merger.mlp.0'); // [N/4, 4E]
  const a = activation(g, h, 'gelu', 'merger.mlp.act'); // nn.GELU(): the exact erf form
  const out = linear(g, mw.pp('mlp.2'), a, m2 * E, spec.outHidden, 'merger.mlp.2'); // [N/4, D]
  const features = g.unsqueeze(out, [0], 'merger.out'); // [1, N/4, D]: one "crop"
  g.output(features, FEATURES_OUTPUT, [1, 'tokens', spec.outHidden]);
  if (opts.exposeHiddenStates) {
    states.forEach((s, i) => g.output(g.identity(s, `vision.hidden_states.${i}`)));
    g.output(mergedIn);
  }
}

function checkSpec(spec: Qwen2VLVisionSpec, where: string): void {
  if (spec.embedDim % spec.numHeads !== 0 || (spec.embedDim / spec.numHeads) % 4 !== 0) {
    throw new UnsupportedModelError(
      `${where}: vision embed_dim ${spec.embedDim} / num_heads ${spec.numHeads} must give a head_dim divisible by 4 (2-D rotary)`,
    );
  }
}

/** The checkpoint tensors the Qwen2-VL image path needs, checked for presence and shape (nothing read). */
export function qwen2vlVisionTensorNames(
  spec: Qwen2VLVisionSpec,
  index: ReadonlyMap<string, TensorInfo>,
  where = 'checkpoint',
): string[] {
  checkSpec(spec, where);
  const g = new GraphBuilder({ name: 'plan' });
  const plan = planWeights(g, index, QWEN2VL_VISION_NAMING, where);
  compose(g, plan.weights.pp('visual'), spec, {});
  return plan.names();
}

/** Builds the Qwen2-VL image-path graph from the tensors read for `qwen2vlVisionTensorNames`. */
export function buildQwen2VLVisionGraph(
  spec: Qwen2VLVisionSpec,
  tensors: ReadonlyMap<string, WeightTensor>,
  opts: Qwen2VLGraphOptions = {},
): Uint8Array {
  const where = opts.where ?? 'checkpoint';
  checkSpec(spec, where);
  const g = new GraphBuilder({ name: 'qwen2vl_vision' });
  const load = loadWeights(g, tensors, QWEN2VL_VISION_NAMING, where);
  compose(g, load.weights.pp('visual'), spec, opts);
  return g.build();
}

/**
 * Qwen2VisionTransformerPretrainedModel.rot_pos_emb for one image of grid (t, h, w) patches: every patch row gets
 * (patch_row, patch_col) in the same block-major order as pixel_values (vision_pos_ids), and its angles are
 * [row * inv_freq, col * inv_freq] with inv_freq = 1 / 10000^(arange(0, hd/2, 2) / (hd/2)) (VisionRotaryEmbedding),
 * all in float32 as torch computes them. Returns vision_rotary_angles [t*h*w, hd/2] and the pos ids [t*h*w, 2].
 */
export function visionRotaryAngles(
  grid: { t: number; h: number; w: number },
  headDim: number,
  mergeSize: number,
): { angles: NamedTensor<Float32Array>; posIds: Int32Array } {
  const dim = headDim / 2; // VisionRotaryEmbedding(head_dim // 2)
  const nFreq = dim / 2;
  const invFreq = new Float32Array(nFreq);
  for (let j = 0; j < nFreq; j++) {
    const expo = Math.fround((2 * j) / dim);
    invFreq[j] = Math.fround(1 / Math.fround(VISION_ROPE_THETA ** expo));
  }
  const n = grid.t * grid.h * grid.w;
  const angles = new Float32Array(n * dim); // [N, hd/2]
  const posIds = new Int32Array(n * 2); // [N, 2]
  let r = 0;
  for (let t = 0; t < grid.t; t++) {
    for (let bh = 0; bh < grid.h / mergeSize; bh++) {
      for (let bw = 0; bw < grid.w / mergeSize; bw++) {
        for (let mh = 0; mh < mergeSize; mh++) {
          for (let mw = 0; mw < mergeSize; mw++) {
            const row = bh * mergeSize + mh;
            const col = bw * mergeSize + mw;
            posIds[2 * r] = row;
            posIds[2 * r + 1] = col;
            for (let j = 0; j < nFreq; j++) {
              angles[r * dim + j] = Math.fround(row * invFreq[j]);
              angles[r * dim + nFreq + j] = Math.fround(col * invFreq[j]);
            }
            r++;
          }
        }
      }
    }
  }
  return { angles: { data: angles, shape: [n, dim] }, posIds };
}
