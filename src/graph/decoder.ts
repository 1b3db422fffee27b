/**
 * The language model's decoder layer as an ONNX graph, one graph per layer (the deep lens streams them: build,
 * run, release), plus the small rotary graph that turns position ids into cos/sin once per prompt.
 *
 * One pre-norm residual layer, batch 1 (the batch axis is dropped: every tensor is [seq, ...]):
 *   n1 = norm(x);  h = x + o_proj(attention(q_proj(n1), k_proj(n1), v_proj(n1)))
 *   n2 = norm(h);  out = h + down_proj(act(gate_proj(n2)) * up_proj(n2))
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357), eager attention, float32:
 *   models/llama/modeling_llama.py   LlamaRMSNorm (w * x * rsqrt(mean(x²) + eps)), LlamaRotaryEmbedding (default
 *     rope: inv_freq = 1 / theta^(arange(0, d, 2) / d), emb = cat(freqs, freqs)), rotate_half (half split: dim i
 *     pairs with i + d/2), apply_rotary_pos_emb (q * cos + rotate_half(q) * sin), repeat_kv (query head h uses kv
 *     head h // groups), LlamaAttention.forward (q kᵀ / sqrt(head_dim) + mask, softmax in float32, · v), LlamaMLP
 *   models/mistral/modeling_mistral.py (same layer; sliding_window in the mask)
 *   models/qwen2/modeling_qwen2.py    (q/k/v_proj with bias=True)
 *   models/gemma/modeling_gemma.py    (GemmaRMSNorm: x * rsqrt(mean(x²) + eps) * (1 + w); gelu_pytorch_tanh MLP)
 *   models/qwen2_vl/modeling_qwen2_vl.py apply_multimodal_rotary_pos_emb (M-RoPE: frequency chunk i of
 *     mrope_section takes its angle from position row i % 3, i.e. t, h, w)
 * Gemma 3 (transformers 5.12.1 models/gemma3/modeling_gemma3.py Gemma3DecoderLayer, Gemma3Attention; options of
 * DecoderLayerSpec, off for every other model): sandwich norms
 *   h = x + post_attention_layernorm(attn(input_layernorm(x)))
 *   out = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))
 * q_norm / k_norm with (1 + w) before RoPE, scores · query_pre_attn_scalar^-0.5 (Gemma3Attention.scaling), linear
 * RoPE scaling (inv_freq / factor, _compute_linear_scaling_rope_parameters), and the mask of Gemma3's
 * token_type_ids: each contiguous block of image tokens attends both ways on top of causal (+ sliding window).
 */
import { GraphBuilder, type Value } from './builder.js';
import { activation, gatedMlp, linear } from './blocks.js';
import type { Weights } from './weights.js';

/** Graph input / output names shared by the rotary graph, the layer graphs and the runner. */
export const DECODER_IO = {
  positions: 'position_ids', // float32 [P, seq]: P = 1 (plain) or 3 (M-RoPE t, h, w)
  cos: 'rope_cos', // [seq, head_dim]
  sin: 'rope_sin', // [seq, head_dim]
  hidden: 'hidden', // [seq, hidden] the residual stream entering the layer
  mask: 'attn_mask', // [seq, seq] additive: 0 = may attend, finfo(float32).min = masked
  out: 'layer_out', // [seq, hidden]
  inject: 'inject', // [seq, hidden] added to `hidden` (DeepStack); zero outside the image positions
  perLayerInput: 'per_layer_input', // [seq, ple] Gemma 4's per-layer input of this layer
  kOut: 'layer_k', // [kv, seq, head_dim] the layer's rotated keys (Gemma 4 kv sharing: stored)
  vOut: 'layer_v', // [kv, seq, head_dim] its values
  kIn: 'shared_k', // [kv, seq, head_dim] a kv-shared layer's keys (from an earlier layer)
  vIn: 'shared_v', // [kv, seq, head_dim] its values
} as const;

/** torch.finfo(torch.float32).min, what HF writes into masked entries (not -inf). */
export const MASKED = -3.4028234663852886e38;

export interface DecoderLayerSpec {
  hidden: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediate: number;
  act: string;
  eps: number;
  /** 'rms': w · x/rms (Llama, Qwen2); 'rms1p': (1 + w) · x/rms (Gemma). */
  normKind: 'rms' | 'rms1p';
  qkvBias: boolean;
  /** Qwen3: RMSNorm (w · x/rms, the same eps) over head_dim on each q and k head before RoPE. */
  qkNorm: boolean;
  /** The q/k norms' kind (default 'rms'; Gemma 3: 'rms1p'). */
  qkNormKind?: 'rms' | 'rms1p';
  /** Scores are q kᵀ · attnScale (Gemma 3: query_pre_attn_scalar^-0.5); unset: q kᵀ / sqrt(head_dim). */
  attnScale?: number;
  /**
   * Gemma 2/3 sandwich norms: post_attention_layernorm on the attention output before its residual,
   * pre_feedforward_layernorm before the MLP and post_feedforward_layernorm on its output (unset: Llama's two).
   */
  sandwichNorms?: boolean;
  /** Gemma 4: v gets an RMSNorm without weight (v_norm, with_scale=False) over head_dim. */
  vNorm?: boolean;
  /**
   * Gemma 4 per-layer embeddings: after the MLP residual, out += post_per_layer_input_norm(per_layer_projection(
   * act(per_layer_input_gate(out)) · per_layer_input)); the per-layer input [S, ple] is a graph input.
   */
  perLayerInput?: number;
  /** Gemma 4: the layer's output is multiplied by its stored `layer_scalar` [1]. */
  layerScalar?: boolean;
  /** Gemma 4 kv sharing: 'store' outputs the rotated k and v; 'shared' takes them as inputs (no k/v weights). */
  kv?: 'store' | 'shared';
}

export interface RopeSpec {
  headDim: number;
  theta: number;
  /** Position rows (1 plain, 3 for M-RoPE t, h, w). */
  rows: number;
  /** For each of the headDim / 2 frequencies, the position row its angle comes from. */
  rowOf: readonly number[];
  /** Linear RoPE scaling: inv_freq / factor (rope_type "linear"); unset or 1 = default RoPE. */
  factor?: number;
  /**
   * Proportional RoPE (Gemma 4 full layers): only the first `rotated` of the headDim / 2 frequencies turn, the
   * others have inv_freq 0 (cos 1, sin 0); unset = all.
   */
  rotated?: number;
}

/**
 * Which position row each frequency reads (RopeSpec.rowOf): plain RoPE row 0 everywhere; M-RoPE chunked
 * (Qwen2-VL apply_multimodal_rotary_pos_emb: mrope_section[0] frequencies from t, then h, then w) or interleaved
 * (Qwen3-VL apply_interleaved_mrope: t everywhere, then h at 1, 4, ... < 3·section[1] and w at 2, 5, ... <
 * 3·section[2]).
 */
export function ropeRows(headDim: number, section: readonly number[] | null, interleaved: boolean): number[] {
  const half = headDim / 2;
  if (!section) return new Array<number>(half).fill(0);
  if (section.reduce((a, b) => a + b, 0) !== half) {
    throw new Error(`mrope_section ${JSON.stringify(section)} must sum to head_dim / 2 = ${half}`);
  }
  if (!interleaved) return section.flatMap((n, p) => new Array<number>(n).fill(p));
  const rows = new Array<number>(half).fill(0);
  for (let dim = 1; dim < section.length; dim++) {
    for (let i = dim; i < section[dim]! * 3 && i < half; i += 3) rows[i] = dim;
  }
  return rows;
}

/**
 * inv_freq = 1 / theta^(arange(0, d, 2) / d), each step rounded to float32 as torch computes it
 * (LlamaRotaryEmbedding / _compute_default_rope_parameters: int64 arange -> float, / dim, base ** x, 1.0 / x).
 */
export function ropeInvFreq(headDim: number, theta: number, factor = 1): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const e = Math.fround((2 * i) / headDim);
    out[i] = Math.fround(1 / Math.fround(Math.pow(theta, e)));
    // linear scaling: `inv_freq /= factor` in float32 (transformers 5.12.1 modeling_rope_utils.py)
    if (factor !== 1) out[i] = Math.fround(out[i]! / factor);
  }
  return out;
}

/**
 * position_ids [P, seq] -> rope_cos, rope_sin [seq, head_dim]. freqs[p] = pos[p] ⊗ inv_freq (one float32 product
 * each, as torch's K = 1 matmul); frequency f takes its angle from row section_row(f) (a 0/1 selection summed over
 * rows, exact); emb = cat(freqs, freqs); cos/sin in float32.
 */
export function buildRopeGraph(spec: RopeSpec): Uint8Array {
  const { headDim: d, theta, rowOf } = spec;
  const half = d / 2;
  if (!Number.isInteger(half) || rowOf.length !== half || rowOf.some((r) => r < 0 || r >= spec.rows)) {
    throw new Error(`rope: ${rowOf.length} frequency rows for head_dim ${d} and ${spec.rows} position rows`);
  }
  const P = spec.rows;
  const g = new GraphBuilder({ name: 'decoder.rope' });
  const pos = g.input(DECODER_IO.positions, 'float32', [P, 'seq']); // [P, S]
  const invFreq = ropeInvFreq(d, theta, spec.factor ?? 1);
  if (spec.rotated !== undefined) invFreq.fill(0, spec.rotated);
  const inv = g.initFloat32('rope.inv_freq', invFreq, [half]); // [d/2]
  const select = new Float32Array(P * half); // [P, 1, d/2]: 1 where frequency f reads row p
  rowOf.forEach((p, f) => (select[p * half + f] = 1));
  const sel = g.initFloat32('rope.row_select', select, [P, 1, half]);
  const freqsAll = g.mul(g.unsqueeze(pos, [2]), inv, 'rope.freqs_rows'); // [P, S, d/2]
  const freqs = g.reduce('ReduceSum', g.mul(freqsAll, sel, 'rope.freqs_selected'), [0], {
    keepdims: false,
    name: 'rope.freqs',
  }); // [S, d/2]
  const emb = g.concat([freqs, freqs], -1, 'rope.emb'); // [S, d]
  g.output(g.op('Cos', [emb], {}, { name: DECODER_IO.cos })[0]);
  g.output(g.op('Sin', [emb], {}, { name: DECODER_IO.sin })[0]);
  return g.build();
}

/** RMSNorm over the last axis: w · x · 1/sqrt(mean(x²) + eps), or (1 + w) · … for Gemma. x [..., dim]. */
export function decoderNorm(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  dim: number,
  eps: number,
  kind: 'rms' | 'rms1p',
  name: string,
): Value {
  const weight = w.get('weight', [dim]); // [dim]
  const scale = kind === 'rms1p' ? g.add(weight, 1, `${name}.one_plus_w`) : weight;
  const ms = g.reduce('ReduceMean', g.mul(x, x, `${name}.sq`), [-1], { name: `${name}.mean_sq` }); // [..., 1]
  const inv = g.div(1, g.sqrt(g.add(ms, eps, `${name}.var_eps`), `${name}.rms`), `${name}.inv_rms`);
  return g.mul(g.mul(x, inv, `${name}.normed`), scale, name); // [..., dim]
}

/** Gemma4RMSNorm(with_scale=False): x · pow(mean(x²) + eps, -0.5), over the last axis. */
function weightlessRms(g: GraphBuilder, x: Value, eps: number, name: string): Value {
  const ms = g.reduce('ReduceMean', g.mul(x, x, `${name}.sq`), [-1], { name: `${name}.mean_sq` }); // [..., 1]
  const inv = g.div(1, g.sqrt(g.add(ms, eps, `${name}.var_eps`), `${name}.rms`), `${name}.inv_rms`);
  return g.mul(x, inv, name);
}

/** rotate_half + apply_rotary_pos_emb on x [heads, S, d]: x·cos + cat(-x[d/2:], x[:d/2])·sin. */
function applyRope(g: GraphBuilder, x: Value, cos: Value, sin: Value, d: number, name: string): Value {
  const x1 = g.slice(x, [0], [d / 2], [2], undefined, `${name}.x1`); // [h, S, d/2]
  const x2 = g.slice(x, [d / 2], [d], [2], undefined, `${name}.x2`); // [h, S, d/2]
  const rot = g.concat([g.neg(x2, `${name}.neg_x2`), x1], 2, `${name}.rotate_half`); // [h, S, d]
  return g.add(g.mul(x, cos, `${name}.x_cos`), g.mul(rot, sin, `${name}.rot_sin`), name); // [h, S, d]
}

/**
 * Self-attention of one layer. x [S, D] -> [S, D]. q/k/v are viewed [S, heads, d] (heads contiguous), rotated,
 * and k/v expanded from numKvHeads to numHeads by repeat_kv: [kv, 1, S, d] -> [kv, groups, S, d] -> [H, S, d], so
 * query head h reads kv head h // groups.
 */
export function decoderAttention(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  io: { cos: Value; sin: Value; mask: Value },
  spec: DecoderLayerSpec,
  name: string,
): Value {
  const { hidden: D, numHeads: H, numKvHeads: KV, headDim: d } = spec;
  if (H % KV !== 0) throw new Error(`${name}: ${H} heads are not a multiple of ${KV} kv heads`);
  const groups = H / KV;
  const bias = { bias: spec.qkvBias };
  const heads = (v: Value, n: number, nm: string): Value =>
    g.transpose(g.reshape(v, [0, n, d], `${nm}.split`), [1, 0, 2], nm); // [n, S, d]
  let q = heads(linear(g, w.pp('q_proj'), x, D, H * d, `${name}.q_proj`, bias), H, `${name}.q`);
  const kind = spec.qkNormKind ?? 'rms';
  if (spec.qkNorm) q = decoderNorm(g, w.pp('q_norm'), q, d, spec.eps, kind, `${name}.q_norm`); // [H, S, d]
  const qr = applyRope(g, q, io.cos, io.sin, d, `${name}.q_rope`); // [H, S, d]
  let kr: Value;
  let v: Value;
  if (spec.kv === 'shared') {
    // Gemma 4 kv sharing: an earlier layer's rotated k and normed v (Gemma4TextAttention: shared_kv_states)
    kr = g.input(DECODER_IO.kIn, 'float32', [KV, 'seq', d]); // [KV, S, d]
    v = g.input(DECODER_IO.vIn, 'float32', [KV, 'seq', d]); // [KV, S, d]
  } else {
    let k = heads(linear(g, w.pp('k_proj'), x, D, KV * d, `${name}.k_proj`, bias), KV, `${name}.k`);
    if (spec.qkNorm) k = decoderNorm(g, w.pp('k_norm'), k, d, spec.eps, kind, `${name}.k_norm`); // [KV, S, d]
    v = heads(linear(g, w.pp('v_proj'), x, D, KV * d, `${name}.v_proj`, bias), KV, `${name}.v`);
    if (spec.vNorm) v = weightlessRms(g, v, spec.eps, `${name}.v_norm`); // [KV, S, d]
    kr = applyRope(g, k, io.cos, io.sin, d, `${name}.k_rope`); // [KV, S, d]
    if (spec.kv === 'store') {
      g.output(kr, DECODER_IO.kOut);
      g.output(v, DECODER_IO.vOut);
    }
  }
  const repeat = (t: Value, nm: string): Value => {
    if (groups === 1) return t;
    const e = g.expand(g.unsqueeze(t, [1]), g.constInt64([1, groups, 1, 1]), `${nm}.expanded`); // [KV, G, S, d]
    return g.reshape(e, [H, -1, d], nm); // [H, S, d]
  };
  const kh = repeat(kr, `${name}.k_rep`);
  const vh = repeat(v, `${name}.v_rep`);
  const qk = g.matmul(qr, g.transpose(kh, [0, 2, 1], `${name}.k_t`), `${name}.qk`); // [H, S, S]
  const scores =
    spec.attnScale === undefined
      ? g.div(qk, Math.sqrt(d), `${name}.scores`)
      : g.mul(qk, spec.attnScale, `${name}.scores`); // [H, S, S]
  const probs = g.softmax(g.add(scores, io.mask, `${name}.masked`), -1, `${name}.probs`); // [H, S, S]
  const ctx = g.matmul(probs, vh, `${name}.ctx_heads`); // [H, S, d]
  const merged = g.reshape(g.transpose(ctx, [1, 0, 2]), [0, H * d], `${name}.ctx`); // [S, H*d]
  return linear(g, w.pp('o_proj'), merged, H * d, D, `${name}.o_proj`, { bias: false }); // [S, D]
}

/**
 * One decoder layer as a whole graph: inputs hidden [S, D], rope_cos / rope_sin [S, d], attn_mask [S, S];
 * output layer_out [S, D]. `w` is at the layer (`language_model.model.layers.{i}`). Intermediates are named
 * `decoder.layer.{i}.*`. With `inject`, an input `inject` [S, D] is added to `hidden` first: Qwen3-VL's DeepStack
 * adds visual features at the image positions to the previous layer's output (zero rows elsewhere).
 */
export function buildDecoderLayer(
  g: GraphBuilder,
  w: Weights,
  spec: DecoderLayerSpec,
  layer: number,
  opts: { inject?: boolean } = {},
): { out: Value } {
  const name = `decoder.layer.${layer}`;
  const h0 = g.input(DECODER_IO.hidden, 'float32', ['seq', spec.hidden]); // [S, D]
  const x = opts.inject
    ? g.add(h0, g.input(DECODER_IO.inject, 'float32', ['seq', spec.hidden]), `${name}.injected`) // [S, D]
    : h0;
  const cos = g.input(DECODER_IO.cos, 'float32', ['seq', spec.headDim]); // [S, d]
  const sin = g.input(DECODER_IO.sin, 'float32', ['seq', spec.headDim]); // [S, d]
  const mask = g.input(DECODER_IO.mask, 'float32', ['seq', 'seq']); // [S, S]
  const n1 = decoderNorm(
    g,
    w.pp('input_layernorm'),
    x,
    spec.hidden,
    spec.eps,
    spec.normKind,
    `${name}.norm1`,
  );
  const attnRaw = decoderAttention(g, w.pp('self_attn'), n1, { cos, sin, mask }, spec, `${name}.attn`);
  const norm = (key: string, v: Value, nm: string): Value =>
    decoderNorm(g, w.pp(key), v, spec.hidden, spec.eps, spec.normKind, nm);
  const attn = spec.sandwichNorms
    ? norm('post_attention_layernorm', attnRaw, `${name}.post_attn_norm`)
    : attnRaw; // [S, D]
  const h = g.add(x, attn, `${name}.attn_residual`); // [S, D]
  const n2 = decoderNorm(
    g,
    w.pp(spec.sandwichNorms ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'),
    h,
    spec.hidden,
    spec.eps,
    spec.normKind,
    `${name}.norm2`,
  );
  const mRaw = gatedMlp(
    g,
    w.pp('mlp'),
    n2,
    { hidden: spec.hidden, intermediate: spec.intermediate, act: spec.act, bias: false },
    `${name}.mlp`,
  );
  const m = spec.sandwichNorms ? norm('post_feedforward_layernorm', mRaw, `${name}.post_mlp_norm`) : mRaw; // [S, D]
  let out = g.add(h, m, `${name}.out`); // [S, D]
  if (spec.perLayerInput) {
    // Gemma4TextDecoderLayer: the per-layer-embedding residual after the MLP
    const P = spec.perLayerInput;
    const pli = g.input(DECODER_IO.perLayerInput, 'float32', ['seq', P]); // [S, P]
    const gate = linear(g, w.pp('per_layer_input_gate'), out, spec.hidden, P, `${name}.ple_gate`, {
      bias: false,
    }); // [S, P]
    const gated = g.mul(activation(g, gate, spec.act, `${name}.ple_act`), pli, `${name}.ple_gated`); // [S, P]
    const proj = linear(g, w.pp('per_layer_projection'), gated, P, spec.hidden, `${name}.ple_proj`, {
      bias: false,
    }); // [S, D]
    out = g.add(out, norm('post_per_layer_input_norm', proj, `${name}.ple_norm`), `${name}.ple_out`); // [S, D]
  }
  if (spec.layerScalar) out = g.mul(out, w.get('layer_scalar', [1]), `${name}.scaled_out`); // [S, D]
  g.output(out, DECODER_IO.out);
  return { out };
}

/**
 * The additive attention mask [S, S] (what HF hands layer 0): causal (key j visible to query i when j <= i) or
 * bidirectional (PaliGemma's prefix: every prompt position sees every other); with a sliding window, keys at
 * distance >= window are masked as well (Mistral's `sliding_window`). `blocks` ([start, end) position ranges):
 * query and key inside the same block always see each other, whatever the causal / window rule says (Gemma 3's
 * token_type_ids: transformers 5.12.1 modeling_gemma3.py token_type_ids_mask_function, or-ed with the causal or
 * sliding-window mask).
 */
export function attentionMask(
  seq: number,
  kind: 'causal' | 'bidirectional',
  window: number | null,
  blocks: ReadonlyArray<readonly [number, number]> = [],
): Float32Array {
  const m = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) {
    for (let j = 0; j < seq; j++) {
      const hidden = (kind === 'causal' && j > i) || (window !== null && Math.abs(i - j) >= window);
      if (hidden) m[i * seq + j] = MASKED;
    }
  }
  for (const [a, b] of blocks) {
    if (!(0 <= a && a <= b && b <= seq)) throw new Error(`attention block [${a}, ${b}) is outside 0..${seq}`);
    for (let i = a; i < b; i++) m.fill(0, i * seq + a, i * seq + b);
  }
  return m;
}
