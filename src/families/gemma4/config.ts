/**
 * Typed Gemma 4 config.json (`model_type: gemma4`), image path: the Gemma 4 vision tower, the special-token ids and
 * the Gemma 4 text model. Class defaults (config.json omits values equal to them): transformers 5.12
 * models/gemma4/configuration_gemma4.py (Gemma4Config: boi_token_id 255999, eoi_token_id 258882, image_token_id
 * 258880, tie_word_embeddings true; Gemma4VisionConfig: hidden 768, intermediate 3072, 16 layers, 12 heads, 12 kv
 * heads, head_dim 64, gelu_pytorch_tanh, rms_norm_eps 1e-6, pooling_kernel_size 3, patch_size 16,
 * position_embedding_size 10240, use_clipped_linears false, standardize false, rope default θ 100;
 * Gemma4TextConfig: src/text/models.ts GEMMA4_TEXT and src/text/gemma-decoder.ts).
 * Gemma4Config builds no vision tower when vision_config is null; such a checkpoint has no image path here.
 */
import type { ConfigReader } from '../../config/reader.js';
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import { parseActivation } from '../../graph/blocks.js';
import {
  gemma4TextDecoder,
  parseGemmaDecoderConfig,
  type GemmaDecoderConfig,
} from '../../text/gemma-decoder.js';
import { parseTextConfig, type TextConfig } from '../../text/models.js';

export const GEMMA4_VISION_DEFAULTS = {
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 16,
  num_attention_heads: 12,
  num_key_value_heads: 12,
  head_dim: 64,
  hidden_activation: 'gelu_pytorch_tanh',
  rms_norm_eps: 1e-6,
  pooling_kernel_size: 3,
  patch_size: 16,
  position_embedding_size: 10 * 1024,
  use_clipped_linears: false,
  standardize: false,
  rope_theta: 100,
};

export const GEMMA4_DEFAULTS = {
  boi_token_id: 255_999,
  eoi_token_id: 258_882,
  image_token_id: 258_880,
  tie_word_embeddings: true,
};

export interface Gemma4VisionConfig {
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  hiddenActivation: string;
  rmsNormEps: number;
  poolingKernelSize: number;
  patchSize: number;
  positionEmbeddingSize: number;
  useClippedLinears: boolean;
  standardize: boolean;
  ropeTheta: number;
}

export interface Gemma4Config {
  vision: Gemma4VisionConfig;
  text: TextConfig;
  decoder: GemmaDecoderConfig;
  boiTokenId: number;
  eoiTokenId: number;
  imageTokenId: number;
  tie: boolean;
}

export function parseGemma4Config(r: ConfigReader): Gemma4Config {
  if (!r.has('vision_config')) {
    throw new UnsupportedModelError(
      `${r.where}: vision_config is null: this Gemma 4 checkpoint has no vision tower`,
      {
        hint: 'imgtokens shows image tokens; use a Gemma 4 checkpoint with a vision_config (e.g. google/gemma-4-e2b-it)',
      },
    );
  }
  const v = r.sub('vision_config');
  const d = GEMMA4_VISION_DEFAULTS;
  const mt = v.str('model_type', 'gemma4_vision');
  if (mt !== 'gemma4_vision') {
    throw new UnsupportedModelError(`${v.where}: vision model_type "${mt}" is not gemma4_vision`);
  }
  const rope = v.has('rope_parameters') ? v.sub('rope_parameters') : null;
  // 'default' is what 5.12.1 writes; later transformers name the same per-axis (x | y halves) rope 'axial'.
  const ropeType = rope ? rope.str('rope_type', 'default') : 'default';
  if (ropeType !== 'default' && ropeType !== 'axial') {
    throw new UnsupportedModelError(`${v.where}: vision rope_type "${ropeType}" is not supported`, {
      hint: 'Gemma4VisionConfig uses the 2-D (axial) rope: rope_type default or axial',
    });
  }
  const vision: Gemma4VisionConfig = {
    hiddenSize: v.posInt('hidden_size', d.hidden_size),
    intermediateSize: v.posInt('intermediate_size', d.intermediate_size),
    numHiddenLayers: v.posInt('num_hidden_layers', d.num_hidden_layers),
    numAttentionHeads: v.posInt('num_attention_heads', d.num_attention_heads),
    numKeyValueHeads: v.posInt('num_key_value_heads', d.num_key_value_heads),
    headDim: v.posInt('head_dim', d.head_dim),
    hiddenActivation: parseActivation(
      v.str('hidden_activation', d.hidden_activation),
      `${v.where}: hidden_activation`,
    ),
    rmsNormEps: v.num('rms_norm_eps', d.rms_norm_eps),
    poolingKernelSize: v.posInt('pooling_kernel_size', d.pooling_kernel_size),
    patchSize: v.posInt('patch_size', d.patch_size),
    positionEmbeddingSize: v.posInt('position_embedding_size', d.position_embedding_size),
    useClippedLinears: v.bool('use_clipped_linears', d.use_clipped_linears),
    standardize: v.bool('standardize', d.standardize),
    ropeTheta: rope ? rope.num('rope_theta', d.rope_theta) : d.rope_theta,
  };
  if (vision.headDim % 4 !== 0) {
    throw new CheckpointError(
      `${v.where}: head_dim ${vision.headDim} must be a multiple of 4 (2-D rope halves)`,
    );
  }
  if (vision.numKeyValueHeads !== vision.numAttentionHeads) {
    throw new UnsupportedModelError(
      `${v.where}: ${vision.numAttentionHeads} query heads with ${vision.numKeyValueHeads} kv heads in the vision tower is not supported`,
      { hint: 'every released Gemma 4 vision tower has as many kv heads as query heads' },
    );
  }
  const t = r.sub('text_config');
  const text = parseTextConfig(t, 'gemma4_text');
  if (text.modelType !== 'gemma4_text') {
    throw new UnsupportedModelError(`${t.where}: text model_type "${text.modelType}" is not gemma4_text`);
  }
  const decoder = parseGemmaDecoderConfig(t, 'gemma4_text');
  return {
    vision,
    // the deep lens runs Gemma 4's layer as the shared decoder layer with its options (src/text/gemma-decoder.ts)
    text: {
      ...text,
      decoder: gemma4TextDecoder(decoder, {
        attentionBias: t.bool('attention_bias', false),
        padTokenId: t.int('pad_token_id', 0),
      }),
    },
    decoder,
    boiTokenId: r.int('boi_token_id', GEMMA4_DEFAULTS.boi_token_id),
    eoiTokenId: r.int('eoi_token_id', GEMMA4_DEFAULTS.eoi_token_id),
    imageTokenId: r.int('image_token_id', GEMMA4_DEFAULTS.image_token_id),
    tie: r.bool('tie_word_embeddings', GEMMA4_DEFAULTS.tie_word_embeddings),
  };
}
