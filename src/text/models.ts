/**
 * The text-model registry: what the lens (and, next, the deep lens) needs to know about each language model a
 * VLM family wraps, one TextModelDef per `text_config.model_type`: its config class's defaults (config.json omits
 * values equal to them), how its final norm works and how it scales input embeddings. Adding a text model is one
 * def plus one line in TEXT_MODELS.
 * Defaults are each configuration_<model>.py __init__ at transformers v4.45.1
 * (e71a01a104dd663c730e494eb0b6467bb51df357); norms and scales from modeling_<model>.py (LlamaRMSNorm: w · x/rms;
 * GemmaRMSNorm: (1 + w) · x/rms; GemmaModel.forward: inputs_embeds * float32(sqrt(hidden_size))).
 */
import type { ConfigReader } from '../config/reader.js';
import { CheckpointError } from '../errors.js';

/** The text config fields the lens needs. */
export interface TextConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  rmsNormEps: number;
  /** From text_config.tie_word_embeddings with the text class's default; the loader also checks for an lm_head tensor. */
  tieWordEmbeddings: boolean;
  /** What the deep lens needs to run the decoder layers (heads, MLP, RoPE, attention window). */
  decoder: DecoderConfig;
}

/**
 * The decoder-layer settings of a text config, HF class defaults applied (see each def's `decoderDefaults`).
 * One pre-norm residual layer: h = x + o_proj(attn(norm1(x))); out = h + down(act(gate(n)) * up(n)), n = norm2(h).
 */
export interface DecoderConfig {
  numHeads: number;
  /** Key/value heads (GQA): query head h uses kv head h // (numHeads / numKvHeads). */
  numKvHeads: number;
  headDim: number;
  intermediate: number;
  /** ACT2FN name of the MLP's gate activation. */
  act: string;
  ropeTheta: number;
  /** rope_scaling / rope_parameters rope_type; the deep lens runs 'default' (and Qwen2-VL's 'mrope') only. */
  ropeType: string;
  /** M-RoPE (Qwen2-VL): frequencies per position axis (t, h, w), summing to headDim / 2; null = plain RoPE. */
  mropeSection: number[] | null;
  /** Qwen3-VL's interleaved M-RoPE frequency layout (THWTHW…) instead of chunked (TT…HH…WW…). */
  mropeInterleaved: boolean;
  /** Qwen3: RMSNorm over head_dim on every query and key head (self_attn.q_norm / k_norm) before RoPE. */
  qkNorm: boolean;
  /** q/k/v projections have biases (Qwen2: always; Llama/Gemma: attention_bias). o_proj never does here. */
  qkvBias: boolean;
  /** Why the deep lens cannot run this decoder (an invalid setting), or null. */
  problem: string | null;
  /** Keys at distance >= window are masked (Mistral sliding_window; Qwen2 only with use_sliding_window). */
  slidingWindow: number | null;
  /** With a window: layers below this index attend fully (Qwen2 max_window_layers); 0 = every layer windowed. */
  windowFromLayer: number;
  /**
   * Gemma 3: each layer's attention type (its own rope and window: the window applies to sliding layers only);
   * unset: every layer alike (ropeTheta, and slidingWindow from windowFromLayer on).
   */
  layerTypes?: ReadonlyArray<'sliding_attention' | 'full_attention'>;
  /** With layerTypes: the rope of each layer type (theta, linear scaling factor; 1 = none). */
  ropeByType?: Readonly<Record<'sliding_attention' | 'full_attention', { theta: number; factor: number }>>;
  /** Gemma 3: scores scaled by this (query_pre_attn_scalar^-0.5) instead of 1/sqrt(head_dim). */
  attnScale?: number;
  /** Gemma 3: the layer's sandwich norms (pre/post attention and feed-forward norms, see src/graph/decoder.ts). */
  sandwichNorms?: boolean;
  /** The q/k norms' kind when qkNorm (default 'rms'; Gemma 3's are (1 + w)). */
  qkNormKind?: NormKind;
  /** Gemma 4 (src/text/gemma-decoder.ts gemma4TextDecoder): the layer's extras, see GemmaExtras. */
  gemma4?: Gemma4DecoderExtras;
}

/** What Gemma 4's layers add to Gemma 3's (transformers 5.12.1 models/gemma4/modeling_gemma4.py). */
export interface Gemma4DecoderExtras {
  /** head_dim of full-attention layers (global_head_dim); sliding layers use DecoderConfig.headDim. */
  globalHeadDim: number;
  /** Proportional RoPE on full layers: how many of globalHeadDim / 2 frequencies turn (the rest stay 0). */
  fullRotated: number;
  /** hidden_size_per_layer_input (PLE width; 0 = no per-layer inputs). */
  perLayerInput: number;
  /** Layers >= this index reuse the k/v of the last earlier layer of their type (num_hidden_layers - num_kv_shared_layers). */
  firstKvShared: number;
  /** use_double_wide_mlp: kv-shared layers have 2 x intermediate (read from the weights' shapes). */
  doubleWideMlp: boolean;
  /** final_logit_softcapping: logits = tanh(logits / c) · c (null: none). */
  finalSoftcap: number | null;
  /** use_bidirectional_attention == "vision": image blocks attend both ways. */
  bidirectionalVision: boolean;
  /** vocab_size_per_layer_input (rows of embed_tokens_per_layer). */
  perLayerVocab: number;
  /** pad_token_id: the PLE row image positions read. */
  padTokenId: number;
}

/** A text class's decoder defaults (configuration_<model>.py __init__ at v4.45.1). */
export interface DecoderDefaults {
  num_attention_heads: number;
  /** null: = num_attention_heads (LlamaConfig: `if num_key_value_heads is None`). */
  num_key_value_heads: number | null;
  /** null: hidden_size // num_attention_heads. */
  head_dim: number | null;
  intermediate_size: number;
  /** The config field the MLP activation is read from (Gemma: hidden_activation) and its default. */
  actField: string;
  act: string;
  rope_theta: number;
  /** Qwen2Attention hard-codes bias=True on q/k/v; the others read attention_bias (default False). */
  qkvBiasAlways: boolean;
  /** Mistral: sliding_window (default 4096); Qwen2: sliding_window only when use_sliding_window. */
  window: 'none' | 'mistral' | 'qwen2';
  sliding_window: number | null;
  /** Qwen3: per-head q/k RMSNorm. */
  qkNorm?: boolean;
}

/** 'rms' = Llama RMSNorm (w · x/rms); 'rms1p' = Gemma ((1 + w) · x/rms). */
export type NormKind = 'rms' | 'rms1p';

export interface TextModelDefaults {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
}

export interface TextModelDef {
  modelType: string;
  configClass: string;
  defaults: TextModelDefaults;
  normKind: NormKind;
  /** The factor input embeddings are multiplied by before layer 0 (1 unless the model scales them). */
  embedScale(hidden: number): number;
  /** Decoder-layer defaults; null = the deep lens cannot run this text model (its layer differs, e.g. Gemma-2). */
  decoderDefaults: DecoderDefaults | null;
}

/**
 * float32 sqrt(hidden) as torch makes it. Python's `hidden ** 0.5` is the correctly rounded double square root;
 * `torch.tensor(..., dtype=float32)` and the float32 Div against a Python float both round it to float32.
 */
export function f32Sqrt(n: number): number {
  return Math.fround(Math.sqrt(n));
}

const unscaled = (): number => 1;

export const LLAMA: TextModelDef = {
  modelType: 'llama',
  configClass: 'LlamaConfig',
  defaults: {
    vocab_size: 32000,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  normKind: 'rms',
  embedScale: unscaled,
  // LlamaConfig: num_attention_heads=32, num_key_value_heads=None, intermediate_size=11008, hidden_act="silu",
  // rope_theta=10000.0, attention_bias=False, head_dim=None (-> hidden_size // num_attention_heads)
  decoderDefaults: {
    num_attention_heads: 32,
    num_key_value_heads: null,
    head_dim: null,
    intermediate_size: 11008,
    actField: 'hidden_act',
    act: 'silu',
    rope_theta: 10000,
    qkvBiasAlways: false,
    window: 'none',
    sliding_window: null,
  },
};

export const MISTRAL: TextModelDef = {
  modelType: 'mistral',
  configClass: 'MistralConfig',
  defaults: {
    vocab_size: 32000,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  normKind: 'rms',
  embedScale: unscaled,
  // MistralConfig: num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336, hidden_act="silu",
  // rope_theta=10000.0, sliding_window=4096, head_dim=None (-> hidden_size // num_attention_heads)
  decoderDefaults: {
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: null,
    intermediate_size: 14336,
    actField: 'hidden_act',
    act: 'silu',
    rope_theta: 10000,
    qkvBiasAlways: false,
    window: 'mistral',
    sliding_window: 4096,
  },
};

export const QWEN2: TextModelDef = {
  modelType: 'qwen2',
  configClass: 'Qwen2Config',
  defaults: {
    vocab_size: 151936,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  normKind: 'rms',
  embedScale: unscaled,
  // Qwen2Config: num_attention_heads=32, num_key_value_heads=32, intermediate_size=22016, hidden_act="silu",
  // rope_theta=10000.0, use_sliding_window=False, sliding_window=4096, max_window_layers=28; Qwen2Attention:
  // q/k/v_proj bias=True, o_proj bias=False
  decoderDefaults: {
    num_attention_heads: 32,
    num_key_value_heads: 32,
    head_dim: null,
    intermediate_size: 22016,
    actField: 'hidden_act',
    act: 'silu',
    rope_theta: 10000,
    qkvBiasAlways: true,
    window: 'qwen2',
    sliding_window: 4096,
  },
};

export const GEMMA: TextModelDef = {
  modelType: 'gemma',
  configClass: 'GemmaConfig',
  defaults: {
    vocab_size: 256000,
    hidden_size: 3072,
    num_hidden_layers: 28,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  normKind: 'rms1p',
  embedScale: f32Sqrt,
  // GemmaConfig: num_attention_heads=16, num_key_value_heads=16, head_dim=256, intermediate_size=24576,
  // hidden_activation=None (GemmaMLP then uses gelu_pytorch_tanh; hidden_act is not read), rope_theta=10000.0,
  // attention_bias=False
  decoderDefaults: {
    num_attention_heads: 16,
    num_key_value_heads: 16,
    head_dim: 256,
    intermediate_size: 24576,
    actField: 'hidden_activation',
    act: 'gelu_pytorch_tanh',
    rope_theta: 10000,
    qkvBiasAlways: false,
    window: 'none',
    sliding_window: null,
  },
};

export const GEMMA2: TextModelDef = {
  modelType: 'gemma2',
  configClass: 'Gemma2Config',
  defaults: {
    vocab_size: 256000,
    hidden_size: 2304,
    num_hidden_layers: 26,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  normKind: 'rms1p',
  embedScale: f32Sqrt,
  // Gemma2DecoderLayer adds pre/post-feedforward norms, logit soft-capping and alternating sliding windows: not
  // the shared decoder layer, so the deep lens refuses it.
  decoderDefaults: null,
};

/**
 * The Qwen2-VL / Qwen2.5-VL language models: Qwen2's layer (q/k/v biases) with M-RoPE over (t, h, w) positions.
 * Qwen2VLConfig (4.45.1, flat; text_config in 5.x) / Qwen2_5_VLTextConfig: num_attention_heads=64,
 * num_key_value_heads=8, intermediate_size=29568, hidden_act="silu", rope_theta=1000000.0,
 * use_sliding_window=False, sliding_window=4096, max_window_layers=80.
 */
export const QWEN2_VL_DECODER: DecoderDefaults = {
  num_attention_heads: 64,
  num_key_value_heads: 8,
  head_dim: null,
  intermediate_size: 29568,
  actField: 'hidden_act',
  act: 'silu',
  rope_theta: 1e6,
  qkvBiasAlways: true,
  window: 'qwen2',
  sliding_window: 4096,
};

/**
 * Qwen3-VL's language model (transformers 5.x models/qwen3_vl/configuration_qwen3_vl.py Qwen3VLTextConfig and
 * modeling_qwen3_vl.py Qwen3VLTextAttention): num_attention_heads=32, num_key_value_heads=32, head_dim=128,
 * intermediate_size=22016, hidden_act="silu", rope_theta=5000000.0, attention_bias=False; q_norm / k_norm
 * (RMSNorm over head_dim) on every head before the interleaved M-RoPE.
 */
export const QWEN3_VL_DECODER: DecoderDefaults = {
  num_attention_heads: 32,
  num_key_value_heads: 32,
  head_dim: 128,
  intermediate_size: 22016,
  actField: 'hidden_act',
  act: 'silu',
  rope_theta: 5e6,
  qkvBiasAlways: false,
  window: 'none',
  sliding_window: null,
  qkNorm: true,
};

/**
 * Gemma 3's text model (transformers 5.12.1 models/gemma3: Gemma3TextConfig defaults; Gemma3RMSNorm is (1 + w) · x̂
 * with zero-centred weights; Gemma3TextScaledWordEmbedding multiplies the looked-up rows by embed_scale =
 * float32(sqrt(hidden)) inside the embedding). The decoder's shape is src/text/gemma-decoder.ts.
 */
export const GEMMA3_TEXT: TextModelDef = {
  modelType: 'gemma3_text',
  configClass: 'Gemma3TextConfig',
  defaults: {
    vocab_size: 262_208,
    hidden_size: 2304,
    num_hidden_layers: 26,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  normKind: 'rms1p',
  embedScale: f32Sqrt,
  // Gemma 3's layer (q/k norms, pre/post-feedforward norms, alternating sliding windows with their own rope base)
  // is the shared decoder layer with options; its DecoderConfig comes from src/text/gemma-decoder.ts
  // gemma3TextDecoder (the family's config sets it), not from these defaults.
  decoderDefaults: null,
};

/**
 * Gemma 4's text model (transformers 5.12.1 models/gemma4: Gemma4TextConfig defaults; Gemma4RMSNorm is PLAIN
 * w · x̂ with weights stored around 1, unlike Gemma 3; the embedding is scaled by float32(sqrt(hidden)) as Gemma 3's).
 */
export const GEMMA4_TEXT: TextModelDef = {
  modelType: 'gemma4_text',
  configClass: 'Gemma4TextConfig',
  defaults: {
    vocab_size: 262_144,
    hidden_size: 2304,
    num_hidden_layers: 30,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  normKind: 'rms',
  embedScale: f32Sqrt,
  // Gemma 4's layer is the shared decoder layer with options too; its DecoderConfig comes from
  // src/text/gemma-decoder.ts gemma4TextDecoder (the family's config sets it).
  decoderDefaults: null,
};

export const TEXT_MODELS: ReadonlyMap<string, TextModelDef> = new Map(
  [LLAMA, MISTRAL, QWEN2, GEMMA, GEMMA2, GEMMA3_TEXT, GEMMA4_TEXT].map((d) => [d.modelType, d]),
);

export function textModelDef(modelType: string, where: string): TextModelDef {
  const d = TEXT_MODELS.get(modelType);
  if (!d) {
    throw new CheckpointError(`${where}: unsupported text model_type "${modelType}"`, {
      hint: `supported text models: ${[...TEXT_MODELS.keys()].join(', ')}`,
    });
  }
  return d;
}

/** Parses a text sub-config (`text_config`) with its class's defaults; a dict without model_type is `defaultModelType`. */
export function parseTextConfig(r: ConfigReader, defaultModelType: string): TextConfig {
  const modelType = r.str('model_type', defaultModelType);
  const d = textModelDef(modelType, r.where).defaults;
  return {
    modelType,
    vocabSize: r.posInt('vocab_size', d.vocab_size),
    hiddenSize: r.posInt('hidden_size', d.hidden_size),
    numHiddenLayers: r.posInt('num_hidden_layers', d.num_hidden_layers),
    rmsNormEps: r.num('rms_norm_eps', d.rms_norm_eps),
    tieWordEmbeddings: r.bool('tie_word_embeddings', d.tie_word_embeddings),
    decoder: parseDecoderConfig(r, textModelDef(modelType, r.where).decoderDefaults, d.hidden_size),
  };
}

/**
 * The decoder settings of a text config reader `r` with `def`'s class defaults. The rope settings are read from
 * `rope_parameters` (transformers 5.x) or `rope_scaling` (4.x) and the top-level `rope_theta`; only the 'default'
 * rope type is supported (no llama3 / linear / dynamic scaling).
 */
export function parseDecoderConfig(
  r: ConfigReader,
  d: DecoderDefaults | null,
  hiddenDefault: number,
): DecoderConfig {
  // A config the projector-level lens reads fine must still load: a decoder setting that is missing or invalid
  // only makes the deep lens refuse (with the reason), when it is asked for.
  try {
    return d ? parseDecoder(r, d, hiddenDefault) : unsupportedDecoder(null);
  } catch (e) {
    if (e instanceof CheckpointError) return unsupportedDecoder(e.message);
    throw e;
  }
}

function unsupportedDecoder(problem: string | null): DecoderConfig {
  return {
    problem,
    numHeads: 0,
    numKvHeads: 0,
    headDim: 0,
    intermediate: 0,
    act: '',
    ropeTheta: 0,
    ropeType: 'default',
    mropeSection: null,
    mropeInterleaved: false,
    qkNorm: false,
    qkvBias: false,
    slidingWindow: null,
    windowFromLayer: 0,
  };
}

function parseDecoder(r: ConfigReader, d: DecoderDefaults, hiddenDefault: number): DecoderConfig {
  const hidden = r.posInt('hidden_size', hiddenDefault);
  const numHeads = r.posInt('num_attention_heads', d.num_attention_heads);
  const numKvHeads = r.posInt('num_key_value_heads', d.num_key_value_heads ?? numHeads);
  const headDim = r.posInt('head_dim', d.head_dim ?? Math.floor(hidden / numHeads));
  const rope = r.has('rope_parameters') ? r.sub('rope_parameters') : r.sub('rope_scaling');
  const ropeType = rope.str('rope_type', rope.str('type', 'default'));
  const mrope = rope.has('mrope_section') ? rope.numArray('mrope_section') : null;
  let slidingWindow: number | null = null;
  let windowFromLayer = 0;
  if (d.window === 'mistral') slidingWindow = r.has('sliding_window') ? r.posInt('sliding_window') : null;
  if (d.window === 'qwen2' && r.bool('use_sliding_window', false) && r.has('sliding_window')) {
    slidingWindow = r.posInt('sliding_window');
    windowFromLayer = r.int('max_window_layers', 28);
  }
  return {
    numHeads,
    numKvHeads,
    headDim,
    intermediate: r.posInt('intermediate_size', d.intermediate_size),
    act: r.str(d.actField, d.act),
    ropeTheta: rope.num('rope_theta', r.num('rope_theta', d.rope_theta)),
    mropeSection: mrope,
    mropeInterleaved: rope.bool('mrope_interleaved', false),
    qkNorm: d.qkNorm ?? false,
    qkvBias: d.qkvBiasAlways || r.bool('attention_bias', false),
    slidingWindow,
    windowFromLayer,
    ropeType,
    problem: null,
  };
}
