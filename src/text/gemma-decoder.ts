/**
 * The decoder shape of the Gemma 3 / Gemma 4 text models, parsed with their class defaults, for the deep lens (the
 * image path and the lens read only TextConfig). Plain data; it names no family.
 * Sources (class defaults; config.json omits values equal to them):
 *   gemma3_text: transformers models/gemma3/configuration_gemma3.py Gemma3TextConfig (head_dim 256,
 *     query_pre_attn_scalar 256, sliding_window 4096, rope_theta 1e6, rope_local_base_freq 1e4,
 *     sliding_window_pattern 6: layer i is full iff (i + 1) % 6 == 0); 5.12.1 checkpoints carry `rope_parameters`
 *     per layer type and `layer_types` instead of rope_scaling / rope_local_base_freq / sliding_window_pattern,
 *     and both spellings are read. Gemma3ForConditionalGeneration never applies final_logit_softcapping.
 *   gemma4_text: transformers 5.12 models/gemma4/configuration_gemma4.py Gemma4TextConfig (head_dim 256,
 *     global_head_dim 512 on full layers, sliding_window 512, hidden_size_per_layer_input 256, vocab_size_per_layer_input
 *     262144, num_kv_shared_layers 0, rope: sliding default θ 1e4, full proportional 0.25 θ 1e6; the last layer is
 *     forced to full attention). Attention scale 1.0; final_logit_softcapping IS applied.
 */
import type { ConfigReader } from '../config/reader.js';
import { CheckpointError, UnsupportedModelError } from '../errors.js';
import type { DecoderConfig } from './models.js';

export type LayerType = 'sliding_attention' | 'full_attention';

export interface RopeSpec {
  ropeType: 'default' | 'linear' | 'proportional';
  theta: number;
  /** linear: inv_freq / factor. */
  factor: number;
  /** proportional: the rotated fraction of head_dim. */
  partialRotaryFactor: number;
}

export interface GemmaDecoderConfig {
  modelType: 'gemma3_text' | 'gemma4_text';
  numHiddenLayers: number;
  hiddenSize: number;
  intermediateSize: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  /** Gemma 4: head_dim of full-attention layers (global_head_dim); Gemma 3: head_dim. */
  globalHeadDim: number;
  hiddenActivation: string;
  rmsNormEps: number;
  layerTypes: LayerType[];
  slidingWindow: number;
  rope: Record<LayerType, RopeSpec>;
  /** Attention-score scale: query_pre_attn_scalar^-0.5 (Gemma 3), 1.0 (Gemma 4). */
  attentionScale: number;
  /** Logit softcap the model applies (null: none; Gemma 3's ConditionalGeneration never applies one). */
  finalLogitSoftcapping: number | null;
  /** Gemma 4 only (0 / false / null elsewhere). */
  hiddenSizePerLayerInput: number;
  vocabSizePerLayerInput: number;
  numKvSharedLayers: number;
  useDoubleWideMlp: boolean;
  attentionKEqV: boolean;
  numGlobalKeyValueHeads: number | null;
  useBidirectionalAttention: 'vision' | 'all' | null;
  enableMoeBlock: boolean;
}

const D = {
  gemma3_text: { head_dim: 256, heads: 8, kv: 4, inter: 9216, sliding_window: 4096, qpas: 256 },
  gemma4_text: { head_dim: 256, heads: 8, kv: 4, inter: 9216, sliding_window: 512, qpas: 0 },
};

function ropeOf(r: ConfigReader, dflt: RopeSpec): RopeSpec {
  const type = r.str('rope_type', dflt.ropeType);
  if (type !== 'default' && type !== 'linear' && type !== 'proportional') {
    throw new UnsupportedModelError(`${r.where}: rope_type "${type}" is not supported`, {
      hint: 'supported: default, linear, proportional',
    });
  }
  return {
    ropeType: type,
    theta: r.num('rope_theta', dflt.theta),
    factor: r.num('factor', 1),
    partialRotaryFactor: r.num('partial_rotary_factor', type === 'proportional' ? 0.25 : 1),
  };
}

export function parseGemmaDecoderConfig(
  r: ConfigReader,
  modelType: 'gemma3_text' | 'gemma4_text',
): GemmaDecoderConfig {
  const d = D[modelType];
  const g4 = modelType === 'gemma4_text';
  const layers = r.posInt('num_hidden_layers', g4 ? 30 : 26);
  const heads = r.posInt('num_attention_heads', d.heads);
  const headDim = r.posInt('head_dim', d.head_dim);
  let layerTypes: LayerType[];
  if (r.has('layer_types') && r.raw['layer_types'] !== null) {
    const raw = r.raw['layer_types'];
    if (
      !Array.isArray(raw) ||
      raw.length !== layers ||
      !raw.every((t) => t === 'sliding_attention' || t === 'full_attention')
    ) {
      throw new CheckpointError(
        `${r.where}: layer_types must list ${layers} of sliding_attention | full_attention`,
      );
    }
    layerTypes = raw as LayerType[];
  } else {
    const pattern = r.posInt(
      'sliding_window_pattern',
      r.has('_sliding_window_pattern') ? r.posInt('_sliding_window_pattern') : 6,
    );
    layerTypes = Array.from({ length: layers }, (_, i) =>
      (i + 1) % pattern ? 'sliding_attention' : 'full_attention',
    );
  }
  if (g4) layerTypes[layers - 1] = 'full_attention'; // Gemma4TextConfig.__post_init__ forces it
  let rope: Record<LayerType, RopeSpec>;
  const base = (type: RopeSpec['ropeType'], theta: number, partial = 1): RopeSpec => ({
    ropeType: type,
    theta,
    factor: 1,
    partialRotaryFactor: partial,
  });
  const rp = r.raw['rope_parameters'];
  if (rp && typeof rp === 'object' && !Array.isArray(rp)) {
    const p = r.sub('rope_parameters');
    rope = {
      sliding_attention: p.has('sliding_attention')
        ? ropeOf(p.sub('sliding_attention'), base('default', 1e4))
        : base('default', 1e4),
      full_attention: p.has('full_attention')
        ? ropeOf(p.sub('full_attention'), g4 ? base('proportional', 1e6, 0.25) : base('default', 1e6))
        : g4
          ? base('proportional', 1e6, 0.25)
          : base('default', 1e6),
    };
  } else if (g4) {
    rope = { sliding_attention: base('default', 1e4), full_attention: base('proportional', 1e6, 0.25) };
  } else {
    // hub Gemma 3 configs: rope_scaling (global layers) + rope_theta, rope_local_base_freq (sliding layers)
    const theta = r.num('rope_theta', 1e6);
    const full =
      r.has('rope_scaling') && r.raw['rope_scaling'] !== null
        ? ropeOf(r.sub('rope_scaling'), base('default', theta))
        : base('default', theta);
    rope = {
      sliding_attention: base('default', r.num('rope_local_base_freq', 1e4)),
      full_attention: { ...full, theta },
    };
  }
  const optNum = (k: string): number | null => {
    const v = r.raw[k];
    return v === undefined || v === null ? null : r.num(k);
  };
  const bidi = r.raw['use_bidirectional_attention'];
  return {
    modelType,
    numHiddenLayers: layers,
    hiddenSize: r.posInt('hidden_size', 2304),
    intermediateSize: r.posInt('intermediate_size', d.inter),
    numAttentionHeads: heads,
    numKeyValueHeads: r.posInt('num_key_value_heads', d.kv),
    headDim,
    globalHeadDim: g4 ? r.posInt('global_head_dim', 512) : headDim,
    hiddenActivation: r.str('hidden_activation', 'gelu_pytorch_tanh'),
    rmsNormEps: r.num('rms_norm_eps', 1e-6),
    layerTypes,
    slidingWindow: r.posInt('sliding_window', d.sliding_window),
    rope,
    attentionScale: g4 ? 1 : r.num('query_pre_attn_scalar', d.qpas) ** -0.5,
    finalLogitSoftcapping: g4 ? optNum('final_logit_softcapping') : null,
    hiddenSizePerLayerInput: g4 ? r.int('hidden_size_per_layer_input', 256) : 0,
    vocabSizePerLayerInput: g4 ? r.int('vocab_size_per_layer_input', 262_144) : 0,
    numKvSharedLayers: g4 ? r.int('num_kv_shared_layers', 0) : 0,
    useDoubleWideMlp: g4 ? r.bool('use_double_wide_mlp', false) : false,
    attentionKEqV: g4 ? r.bool('attention_k_eq_v', false) : false,
    numGlobalKeyValueHeads: g4 ? optNum('num_global_key_value_heads') : null,
    useBidirectionalAttention: bidi === 'vision' || bidi === 'all' ? bidi : null,
    enableMoeBlock: g4 ? r.bool('enable_moe_block', false) : false,
  };
}

/**
 * Gemma 3's decoder as the shared decoder layer runs it (src/graph/decoder.ts options): sandwich norms, (1 + w)
 * q/k norms, scores · query_pre_attn_scalar^-0.5, the window on sliding layers only and each layer type's rope
 * (transformers 5.12.1 models/gemma3/modeling_gemma3.py Gemma3DecoderLayer, Gemma3Attention,
 * Gemma3RotaryEmbedding). A setting the shared layer does not run becomes `problem` (the deep lens then refuses
 * with it; the projector-level lens never reads the decoder).
 */
export function gemma3TextDecoder(
  g: GemmaDecoderConfig,
  flags: { attentionBias: boolean; bidirectionalText: boolean },
): DecoderConfig {
  const problems: string[] = [];
  // Gemma3Attention puts the bias on o_proj too; the shared layer's o_proj has none.
  if (flags.attentionBias) problems.push('attention_bias true (q/k/v/o biases) is not supported');
  if (flags.bidirectionalText) problems.push('use_bidirectional_attention true is not supported');
  const rope = {} as Record<LayerType, { theta: number; factor: number }>;
  for (const t of ['sliding_attention', 'full_attention'] as const) {
    const r = g.rope[t];
    if (r.ropeType === 'proportional') problems.push(`${t}: rope_type "proportional" is not supported`);
    rope[t] = { theta: r.theta, factor: r.ropeType === 'linear' ? r.factor : 1 };
  }
  return {
    numHeads: g.numAttentionHeads,
    numKvHeads: g.numKeyValueHeads,
    headDim: g.headDim,
    intermediate: g.intermediateSize,
    act: g.hiddenActivation,
    ropeTheta: rope.full_attention.theta,
    ropeType: 'default',
    mropeSection: null,
    mropeInterleaved: false,
    qkNorm: true,
    qkNormKind: 'rms1p',
    qkvBias: false,
    problem: problems.length > 0 ? problems.join('; ') : null,
    slidingWindow: g.slidingWindow,
    windowFromLayer: 0,
    layerTypes: g.layerTypes,
    ropeByType: rope,
    attnScale: g.attentionScale,
    sandwichNorms: true,
  };
}

/**
 * Gemma 4's decoder as the shared decoder layer runs it: Gemma 3's sandwich layer with plain-w norms, scale 1.0,
 * a weightless v norm, layer_scalar, global_head_dim and proportional RoPE on full layers, per-layer inputs (PLE),
 * kv sharing and the final-logit softcap (transformers 5.12.1 models/gemma4/modeling_gemma4.py
 * Gemma4TextAttention, Gemma4TextDecoderLayer, Gemma4TextModel, Gemma4ForConditionalGeneration).
 */
export function gemma4TextDecoder(
  g: GemmaDecoderConfig,
  flags: { attentionBias: boolean; padTokenId: number },
): DecoderConfig {
  const problems: string[] = [];
  if (flags.attentionBias) problems.push('attention_bias true is not supported');
  if (g.attentionKEqV) problems.push('attention_k_eq_v (v = k on full layers) is not supported');
  if (g.enableMoeBlock) problems.push('the MoE block (enable_moe_block) is not supported');
  if (g.useBidirectionalAttention === 'all')
    problems.push('use_bidirectional_attention "all" is not supported');
  const sl = g.rope.sliding_attention;
  const fu = g.rope.full_attention;
  if (sl.ropeType !== 'default')
    problems.push(`sliding_attention rope_type "${sl.ropeType}" is not supported`);
  if (fu.ropeType === 'linear')
    problems.push('full_attention rope_type "linear" is not supported for Gemma 4');
  const fullRotated =
    fu.ropeType === 'proportional'
      ? Math.floor((fu.partialRotaryFactor * g.globalHeadDim) / 2)
      : g.globalHeadDim / 2;
  return {
    numHeads: g.numAttentionHeads,
    numKvHeads: g.numKeyValueHeads,
    headDim: g.headDim,
    intermediate: g.intermediateSize,
    act: g.hiddenActivation,
    ropeTheta: fu.theta,
    ropeType: 'default',
    mropeSection: null,
    mropeInterleaved: false,
    qkNorm: true,
    qkNormKind: 'rms',
    qkvBias: false,
    problem: problems.length > 0 ? problems.join('; ') : null,
    slidingWindow: g.slidingWindow,
    windowFromLayer: 0,
    layerTypes: g.layerTypes,
    ropeByType: {
      sliding_attention: { theta: sl.theta, factor: 1 },
      full_attention: { theta: fu.theta, factor: 1 },
    },
    attnScale: 1,
    sandwichNorms: true,
    gemma4: {
      globalHeadDim: g.globalHeadDim,
      fullRotated,
      perLayerInput: g.hiddenSizePerLayerInput,
      firstKvShared: g.numHiddenLayers - g.numKvSharedLayers,
      doubleWideMlp: g.useDoubleWideMlp,
      finalSoftcap: g.finalLogitSoftcapping,
      bidirectionalVision: g.useBidirectionalAttention === 'vision',
      perLayerVocab: g.vocabSizePerLayerInput,
      padTokenId: flags.padTokenId,
    },
  };
}
