/**
 * Shared graph blocks for vision towers and projectors, written once (as llama.cpp's build_vit / build_ffn) and
 * composed by the tower modules (clip.ts, siglip.ts) and the families (src/families/<model_type>/). Each block takes the builder, a Weights view
 * at the module's prefix, its input and a name prefix; every intermediate gets a readable ONNX name under that
 * prefix (`vision.layer.3.attn_out`).
 *
 * Mirrors transformers v4.45.1 (commit e71a01a104dd663c730e494eb0b6467bb51df357):
 *   models/clip/modeling_clip.py  (CLIPVisionEmbeddings, CLIPAttention eager path, CLIPMLP, CLIPEncoderLayer)
 *   models/siglip/modeling_siglip.py (SiglipVisionEmbeddings, same encoder layer layout)
 *   models/llava/modeling_llava.py (LlavaMultiModalProjector)
 *   and, at transformers 5.12.1: models/internvl/modeling_internvl.py (InternVLVisionAttention with use_qk_norm,
 *   InternVLVisionLayer's LayerScale, NORM2FN), models/idefics3/modeling_idefics3.py (Idefics3Connector.pixel_shuffle)
 *   activations.py (ACT2FN: gelu, gelu_new, gelu_pytorch_tanh, quick_gelu, relu, silu)
 */
import { UnsupportedModelError } from '../errors.js';
import type { GraphBuilder, Value } from './builder.js';
import type { Weights } from './weights.js';
import { quantLinear } from './quant.js';

// ---------------------------------------------------------------- basic layers

/**
 * nn.Linear: y = x Wᵀ + b with W stored [out, in]. x [..., in] -> [..., out].
 * Lowered to Gemm(transB=1) on x flattened to [rows, in]: onnxruntime casts an F16/BF16 weight once, pre-packs it
 * and needs no transposed copy (MatMul against Transpose(W) kept ~1.9 GB more resident for ViT-L/14-336).
 */
export function linear(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  inFeatures: number,
  outFeatures: number,
  name: string,
  opts: { bias?: boolean } = {},
): Value {
  const q = w.quantized?.('weight', [outFeatures, inFeatures]); // the opt-in --dtype q8|q4 path, else null
  if (q) {
    const b = opts.bias === false ? null : w.get('bias', [outFeatures]); // [out]
    return quantLinear(g, x, q, b, name); // [..., out]
  }
  const weight = w.get('weight', [outFeatures, inFeatures]); // [out, in]
  const bias = opts.bias === false ? null : w.get('bias', [outFeatures]); // [out]
  const rows = g.reshape(x, [-1, inFeatures], `${name}.in_2d`); // [rows, in]
  const y = g.gemm(rows, weight, bias, { transB: true, name: `${name}.gemm` }); // [rows, out]
  const lead = g.shape(x, { end: -1, name: `${name}.lead_dims` }); // x's leading dims
  const outShape = g.concat([lead, g.constInt64([outFeatures])], 0, `${name}.out_shape`);
  return g.reshape(y, outShape, name); // [..., out]
}

/** nn.LayerNorm over the last axis (weight and bias), x [..., dim]. */
export function layerNorm(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  dim: number,
  eps: number,
  name: string,
): Value {
  const scale = w.get('weight', [dim]);
  const bias = w.get('bias', [dim]);
  return g.layerNorm(x, scale, bias, { epsilon: eps, name });
}

/**
 * RMSNorm over the last axis with a weight and no bias (LlamaRMSNorm / Qwen2RMSNorm: w · x / sqrt(mean(x²) + eps),
 * computed in float32). x [..., dim]. Opset 17 has no RMSNormalization, so it is written out.
 */
export function rmsNorm(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  dim: number,
  eps: number,
  name: string,
): Value {
  const scale = w.get('weight', [dim]); // [dim]
  const ms = g.reduce('ReduceMean', g.mul(x, x, `${name}.sq`), [-1], { name: `${name}.mean_sq` }); // [..., 1]
  const inv = g.div(1, g.sqrt(g.add(ms, eps, `${name}.var_eps`), `${name}.rms`), `${name}.inv_rms`);
  return g.mul(g.mul(x, inv, `${name}.normed`), scale, name); // [..., dim]
}

export type NormType = 'layer_norm' | 'rms_norm';

/** nn.LayerNorm (weight + bias) or RMSNorm (weight only) over the last axis, as a config's `norm_type` says. */
export function norm(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  dim: number,
  eps: number,
  kind: NormType,
  name: string,
): Value {
  return kind === 'rms_norm' ? rmsNorm(g, w, x, dim, eps, name) : layerNorm(g, w, x, dim, eps, name);
}

/** LayerScale: x · λ with a learned per-channel vector (`w.get(param)`, [dim]; InternViT lambda_1 / lambda_2). */
export function layerScale(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  param: string,
  dim: number,
  name: string,
): Value {
  return g.mul(x, w.get(param, [dim]), name); // [..., dim]
}

/**
 * Gated MLP: down_proj(act(gate_proj(x)) · up_proj(x)) (LlamaMLP; Qwen2_5_VLMLP, whose vision linears have biases).
 * `w` at the mlp module; x [..., hidden] -> [..., hidden].
 */
export function gatedMlp(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  spec: { hidden: number; intermediate: number; act: string; bias: boolean },
  name: string,
): Value {
  const { hidden: C, intermediate: I } = spec;
  const bias = { bias: spec.bias };
  const gate = linear(g, w.pp('gate_proj'), x, C, I, `${name}.gate_proj`, bias); // [..., I]
  const up = linear(g, w.pp('up_proj'), x, C, I, `${name}.up_proj`, bias); // [..., I]
  const h = g.mul(activation(g, gate, spec.act, `${name}.act`), up, `${name}.gated`); // [..., I]
  return linear(g, w.pp('down_proj'), h, I, C, `${name}.down_proj`, bias); // [..., hidden]
}

export type Activation = 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'quick_gelu' | 'relu' | 'silu';
export const ACTIVATIONS: readonly Activation[] = [
  'gelu',
  'gelu_new',
  'gelu_pytorch_tanh',
  'quick_gelu',
  'relu',
  'silu',
];

/** Checks an HF `hidden_act` / `projector_hidden_act` string; `field` names the config field for the message. */
export function parseActivation(act: string, field: string): Activation {
  if ((ACTIVATIONS as readonly string[]).includes(act)) return act as Activation;
  throw new UnsupportedModelError(`${field} "${act}" is not supported`, {
    hint: `supported activations: ${ACTIVATIONS.join(', ')}`,
  });
}

/** ACT2FN[act](x), elementwise (activations.py). */
export function activation(g: GraphBuilder, x: Value, act: string, name: string): Value {
  switch (parseActivation(act, 'activation')) {
    case 'gelu': {
      // GELUActivation: 0.5 x (1 + erf(x / sqrt 2)), the exact (erf) form
      const e = g.erf(g.mul(x, Math.SQRT1_2, `${name}.scaled`), `${name}.erf`);
      return g.mul(g.mul(x, 0.5, `${name}.half`), g.add(e, 1, `${name}.one_plus`), name);
    }
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      // NewGELUActivation / PytorchGELUTanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      const x3 = g.mul(g.mul(x, x, `${name}.x2`), x, `${name}.x3`);
      const inner = g.mul(
        g.add(x, g.mul(x3, 0.044715, `${name}.cubic`), `${name}.sum`),
        Math.sqrt(2 / Math.PI),
      );
      const t = g.tanh(inner, `${name}.tanh`);
      return g.mul(g.mul(x, 0.5, `${name}.half`), g.add(t, 1, `${name}.one_plus`), name);
    }
    case 'quick_gelu':
      // QuickGELUActivation: x * sigmoid(1.702 x)
      return g.mul(x, g.sigmoid(g.mul(x, 1.702, `${name}.scaled`), `${name}.sigmoid`), name);
    case 'relu':
      return g.relu(x, name);
    case 'silu':
      return g.mul(x, g.sigmoid(x, `${name}.sigmoid`), name);
  }
}

// ---------------------------------------------------------------- transformer blocks

export interface EncoderSpec {
  hidden: number;
  heads: number;
  intermediate: number;
  act: string;
  eps: number;
}

/** Options of the shared attention block; the defaults are CLIPAttention / SiglipAttention. */
export interface AttentionOptions {
  /** Submodule names of q, k, v and the output projection (default q_proj, k_proj, v_proj, out_proj). */
  names?: { q: string; k: string; v: string; out: string };
  /** Whether q / k / v have biases (default true; InternViT: attention_bias). The output projection always has one. */
  qkvBias?: boolean;
  /**
   * RMSNorm of q and k over the WHOLE width, before the head split, with weights `q_norm` / `k_norm` [C] and this eps
   * (InternVLVisionAttention with use_qk_norm: InternVLVisionRMSNorm(embed_dim), eps 1e-6).
   */
  qkNormEps?: number;
  /**
   * Where head_dim^-0.5 is applied: 'query' scales q after its projection (CLIPAttention); 'scores' scales q·kᵀ
   * (eager_attention_forward of SigLIP / InternViT). The two agree to float rounding.
   */
  scale?: 'query' | 'scores';
}

/**
 * Multi-head self-attention without a mask (CLIPAttention / SiglipAttention / InternVLVisionAttention, eager path).
 * x [N, T, C] -> [N, T, C].
 */
export function attention(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  spec: EncoderSpec,
  name: string,
  opts: AttentionOptions = {},
): Value {
  const { hidden: C, heads: H } = spec;
  const D = C / H; // head_dim
  const n = opts.names ?? { q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'out_proj' };
  const bias = { bias: opts.qkvBias ?? true };
  const scaleScores = opts.scale === 'scores';
  let q = linear(g, w.pp(n.q), x, C, C, `${name}.q_proj`, bias); // [N, T, C]
  let k = linear(g, w.pp(n.k), x, C, C, `${name}.k`, bias); // [N, T, C]
  const v = linear(g, w.pp(n.v), x, C, C, `${name}.v`, bias); // [N, T, C]
  if (opts.qkNormEps !== undefined) {
    q = rmsNorm(g, w.pp('q_norm'), q, C, opts.qkNormEps, `${name}.q_norm`); // [N, T, C]
    k = rmsNorm(g, w.pp('k_norm'), k, C, opts.qkNormEps, `${name}.k_norm`); // [N, T, C]
  }
  if (!scaleScores) q = g.mul(q, D ** -0.5, `${name}.q`);
  const qh = g.transpose(g.reshape(q, [0, 0, H, D]), [0, 2, 1, 3], `${name}.q_heads`); // [N, H, T, D]
  const kt = g.transpose(g.reshape(k, [0, 0, H, D]), [0, 2, 3, 1], `${name}.k_heads_t`); // [N, H, D, T]
  const vh = g.transpose(g.reshape(v, [0, 0, H, D]), [0, 2, 1, 3], `${name}.v_heads`); // [N, H, T, D]
  const raw = g.matmul(qh, kt, scaleScores ? `${name}.scores_raw` : `${name}.scores`); // [N, H, T, T]
  const scores = scaleScores ? g.mul(raw, D ** -0.5, `${name}.scores`) : raw;
  const probs = g.softmax(scores, -1, `${name}.probs`); // [N, H, T, T]
  const ctx = g.matmul(probs, vh, `${name}.ctx_heads`); // [N, H, T, D]
  const merged = g.reshape(g.transpose(ctx, [0, 2, 1, 3]), [0, 0, C], `${name}.ctx`); // [N, T, C]
  return linear(g, w.pp(n.out), merged, C, C, `${name}.out`); // [N, T, C]
}

/** fc2(act(fc1(x))) (CLIPMLP / SiglipMLP). x [N, T, C] -> [N, T, C]. */
export function mlp(g: GraphBuilder, w: Weights, x: Value, spec: EncoderSpec, name: string): Value {
  const h = linear(g, w.pp('fc1'), x, spec.hidden, spec.intermediate, `${name}.fc1`); // [N, T, I]
  const a = activation(g, h, spec.act, `${name}.act`); // [N, T, I]
  return linear(g, w.pp('fc2'), a, spec.intermediate, spec.hidden, `${name}.fc2`); // [N, T, C]
}

/**
 * One pre-LN encoder layer (CLIPEncoderLayer.forward / SiglipEncoderLayer.forward):
 *   h = x + self_attn(layer_norm1(x));  out = h + mlp(layer_norm2(h)).
 * `w` is at `encoder.layers.{i}`; x [N, T, C] -> `${name}.out` [N, T, C].
 */
export function encoderLayer(g: GraphBuilder, w: Weights, x: Value, spec: EncoderSpec, name: string): Value {
  const ln1 = layerNorm(g, w.pp('layer_norm1'), x, spec.hidden, spec.eps, `${name}.ln1`);
  const attn = attention(g, w.pp('self_attn'), ln1, spec, `${name}.attn`);
  const h = g.add(x, attn, `${name}.attn_residual`); // [N, T, C]
  const ln2 = layerNorm(g, w.pp('layer_norm2'), h, spec.hidden, spec.eps, `${name}.ln2`);
  const m = mlp(g, w.pp('mlp'), ln2, spec, `${name}.mlp`);
  return g.add(h, m, `${name}.out`); // [N, T, C]
}

/**
 * The ViT encoder up to and including layer `numLayers - 1` (`w` at `encoder`). Returns HF's hidden_states:
 * [x, out of layer 0, ..., out of layer numLayers-1]; later layers are never touched, so their weights are
 * never requested.
 */
export function vitEncoder(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  spec: EncoderSpec,
  numLayers: number,
  name: string,
): Value[] {
  const states = [x];
  for (let i = 0; i < numLayers; i++) {
    states.push(encoderLayer(g, w.pp(`layers.${i}`), states[i], spec, `${name}.layer.${i}`));
  }
  return states;
}

// ---------------------------------------------------------------- embeddings

export interface PatchSpec {
  channels: number;
  hidden: number;
  patch: number;
  imageSize: number;
}

/**
 * Conv2d(channels -> hidden, kernel = stride = patch) then flatten(2).transpose(1, 2)
 * (CLIPVisionEmbeddings has no conv bias; SiglipVisionEmbeddings has one). `w` at `patch_embedding`.
 * pixels [N, Ch, S, S] -> [N, (S/p)^2, C].
 */
export function patchEmbedding(
  g: GraphBuilder,
  w: Weights,
  pixels: Value,
  spec: PatchSpec,
  name: string,
  opts: { bias: boolean },
): Value {
  const { channels: Ch, hidden: C, patch: P } = spec;
  const weight = w.get('weight', [C, Ch, P, P]); // [C, Ch, P, P]
  const bias = opts.bias ? w.get('bias', [C]) : null;
  const conv = g.conv(pixels, weight, bias, { strides: [P, P], name: `${name}.conv` }); // [N, C, S/P, S/P]
  const flat = g.reshape(conv, [0, 0, -1], `${name}.flat`); // [N, C, G*G]
  return g.transpose(flat, [0, 2, 1], name); // [N, G*G, C]
}

/** Prepends the learned class embedding (`w` holds `class_embedding` [C]) to every sequence. x [N, T, C] -> [N, 1+T, C]. */
export function prependClassToken(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  hidden: number,
  name: string,
): Value {
  return prependToken(g, w.get('class_embedding', [hidden]), x, hidden, name);
}

/** Prepends one learned vector (any shape holding C values: [C], [1, 1, C]) to every sequence. x [N, T, C] -> [N, 1+T, C]. */
export function prependToken(g: GraphBuilder, token: Value, x: Value, hidden: number, name: string): Value {
  const cls = g.reshape(token, [1, 1, hidden], `${name}.cls`); // [1, 1, C]
  const batch = g.shape(x, { start: 0, end: 1, name: `${name}.batch` }); // [1] = N
  const target = g.concat([batch, g.constInt64([1, hidden])], 0, `${name}.cls_shape`); // [3] = (N, 1, C)
  const clsN = g.expand(cls, target, `${name}.cls_expanded`); // [N, 1, C]
  return g.concat([clsN, x], 1, name); // [N, 1+T, C]
}

/** Adds `position_embedding.weight` [T, C] for positions 0..T-1 (all of them: no interpolation). */
export function addPositionEmbedding(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  tokens: number,
  hidden: number,
  name: string,
): Value {
  const pos = w.get('position_embedding.weight', [tokens, hidden]); // [T, C]
  return g.add(x, pos, name); // [N, T, C]
}

// ---------------------------------------------------------------- feature selection and projectors

export type FeatureStrategy = 'default' | 'full';

/**
 * LLaVA's vision_feature_select_strategy (modeling_llava.py, get_image_features): 'default' drops token 0 (CLS),
 * 'full' keeps every token (CLS first). x [N, T, C] -> [N, T or T-1, C].
 */
export function selectFeatures(g: GraphBuilder, x: Value, strategy: FeatureStrategy, name: string): Value {
  if (strategy === 'full') return g.identity(x, name);
  return g.slice(x, [1], [Number.MAX_SAFE_INTEGER], [1], undefined, name);
}

/**
 * Pixel shuffle (space-to-depth) of raster patch features [N, grid*grid, D] -> [N, (grid/s)^2, s*s*D]. Output token
 * (R, C) of the (grid/s) x (grid/s) grid is the concat over dr = 0..s-1 (outer), dc = 0..s-1 (inner) of patch
 * (s R + dr, s C + dc), channel (dr s + dc) D + d: Idefics3Connector.pixel_shuffle and InternVLModel.pixel_shuffle
 * give this same order (transformers 5.12.1; fixtures-modern README-pixelshuffle.md, asserted bitwise there).
 * 'dc-dr' is the deliberately wrong transposed order, kept for the pitfall tests.
 */
export function pixelShuffle(
  g: GraphBuilder,
  x: Value,
  grid: number,
  s: number,
  D: number,
  name: string,
  order: 'dr-dc' | 'dc-dr' = 'dr-dc',
): Value {
  const t = grid / s;
  const blocks = g.reshape(x, [-1, t, s, t, s, D], `${name}.blocks`); // [N, R, dr, C, dc, D]
  const perm = order === 'dr-dc' ? [0, 1, 3, 2, 4, 5] : [0, 1, 3, 4, 2, 5];
  const moved = g.transpose(blocks, perm, `${name}.moved`); // [N, R, C, dr, dc, D]
  return g.reshape(moved, [-1, t * t, s * s * D], name); // [N, T, s*s*D]
}

/** LlavaMultiModalProjector: linear_2(act(linear_1(x))). `w` at `multi_modal_projector`. x [N, T, Cv] -> [N, T, Ct]. */
export function llavaProjector(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  spec: { visionHidden: number; textHidden: number; act: string },
  name: string,
): Value {
  const h = linear(g, w.pp('linear_1'), x, spec.visionHidden, spec.textHidden, `${name}.linear_1`);
  const a = activation(g, h, spec.act, `${name}.act`);
  return linear(g, w.pp('linear_2'), a, spec.textHidden, spec.textHidden, name);
}
