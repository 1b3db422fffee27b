/**
 * Typed InternVL config.json (`model_type: internvl`, the transformers-native "-hf" checkpoints): the InternViT vision
 * tower, the pixel-shuffle ratio, the feature selection, the text model (Qwen2 by default, Llama in some).
 * Class defaults at transformers 5.12.1, models/internvl/configuration_internvl.py: InternVLVisionConfig and
 * InternVLConfig (both @strict dataclasses; config.json omits the fields equal to them). The text model's defaults
 * are its own config class's (src/text/models.ts); a config without text_config is a default Qwen2Config.
 */
import type { ConfigReader } from '../../config/reader.js';
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import type { NormType } from '../../graph/blocks.js';
import { hiddenStateIndex } from '../../graph/vision-tower.js';
import { parseTextConfig, type TextConfig } from '../../text/models.js';

/** InternVLVisionConfig field defaults (configuration_internvl.py, transformers 5.12.1). */
export const INTERNVL_VISION_DEFAULTS = {
  hidden_size: 1024,
  num_hidden_layers: 24,
  num_attention_heads: 16,
  attention_bias: false,
  use_qk_norm: false,
  intermediate_size: 4096,
  hidden_act: 'gelu',
  norm_type: 'layer_norm',
  layer_norm_eps: 1e-6,
  image_size: 448,
  patch_size: 14,
  num_channels: 3,
  use_absolute_position_embeddings: true,
  use_mean_pooling: true,
};

/** InternVLConfig field defaults (configuration_internvl.py, transformers 5.12.1). */
export const INTERNVL_DEFAULTS = {
  image_token_id: 151667,
  image_seq_length: 256,
  downsample_ratio: 0.5,
  projector_hidden_act: 'gelu',
  vision_feature_layer: -1,
  vision_feature_select_strategy: 'default',
  tie_word_embeddings: true,
};

/**
 * The RMSNorm eps of InternViT's q/k norm: InternVLVisionRMSNorm(embed_dim) is built without an eps argument, so it
 * is its default 1e-6 whatever layer_norm_eps says (modeling_internvl.py, InternVLVisionAttention.__init__).
 */
export const QK_NORM_EPS = 1e-6;
/**
 * The projector's LayerNorm eps: InternVLMultiModalProjector builds nn.LayerNorm(4 D) without an eps, so PyTorch's
 * 1e-5 applies (not the vision tower's 1e-6).
 */
export const PROJECTOR_LN_EPS = 1e-5;

export interface InternVisionConfig {
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numChannels: number;
  /** Tile side in pixels (image_size, square) and patch side. */
  imageSize: number;
  patchSize: number;
  hiddenAct: string;
  layerNormEps: number;
  normType: NormType;
  /** q/k/v projection biases (attention_bias); the output projection_layer always has one. */
  attentionBias: boolean;
  useQkNorm: boolean;
  /** True: the final `layernorm` is Identity; false: a LayerNorm (with bias) on every token of last_hidden_state. */
  useMeanPooling: boolean;
}

export interface InternVLConfig {
  vision: InternVisionConfig;
  text: TextConfig;
  /** Pixel-shuffle factor s = int(1 / downsample_ratio): s x s patches become one token of s² D channels. */
  scaleFactor: number;
  downsampleRatio: number;
  /** -1 = last_hidden_state (final layernorm included when use_mean_pooling is false); else hidden_states[i] (raw). */
  visionFeatureLayer: number;
  /** 'default' drops the CLS token before the shuffle, 'full' keeps it (then the grid is not square: refused). */
  visionFeatureSelectStrategy: 'default';
  projectorHiddenAct: string;
  imageTokenId: number;
  imageSeqLength: number;
  /** Top-level tie_word_embeddings (the one transformers 5 decides tying by). */
  tie: boolean;
  /** Patches per tile side (image_size / patch_size) and tokens per tile side after the shuffle. */
  patchGrid: number;
  tokenGrid: number;
}

/** image_size / patch_size: an int or an [h, w] pair (InternVLVisionConfig.__post_init__ makes a pair); square only. */
function squareSize(r: ConfigReader, key: string, dflt: number): number {
  const v = r.raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') return r.posInt(key);
  const a = r.numArray(key);
  if (a.length !== 2 || a[0] !== a[1] || !Number.isInteger(a[0]) || a[0] <= 0) {
    throw new UnsupportedModelError(`${r.where}: ${key} ${JSON.stringify(v)} is not a square size`, {
      hint: 'InternVL tiles are square (size.height = size.width); non-square towers are not supported',
    });
  }
  return a[0];
}

export function parseInternVLConfig(r: ConfigReader): InternVLConfig {
  const v = r.sub('vision_config');
  const d = INTERNVL_VISION_DEFAULTS;
  const normType = v.str('norm_type', d.norm_type);
  if (normType !== 'layer_norm' && normType !== 'rms_norm') {
    throw new UnsupportedModelError(`${v.where}: norm_type "${normType}" is not supported`, {
      hint: 'InternVLVisionConfig accepts "layer_norm" or "rms_norm"',
    });
  }
  const vision: InternVisionConfig = {
    hiddenSize: v.posInt('hidden_size', d.hidden_size),
    intermediateSize: v.posInt('intermediate_size', d.intermediate_size),
    numHiddenLayers: v.posInt('num_hidden_layers', d.num_hidden_layers),
    numAttentionHeads: v.posInt('num_attention_heads', d.num_attention_heads),
    numChannels: v.posInt('num_channels', d.num_channels),
    imageSize: squareSize(v, 'image_size', d.image_size),
    patchSize: squareSize(v, 'patch_size', d.patch_size),
    hiddenAct: v.str('hidden_act', d.hidden_act),
    layerNormEps: v.num('layer_norm_eps', d.layer_norm_eps),
    normType,
    attentionBias: v.bool('attention_bias', d.attention_bias),
    useQkNorm: v.bool('use_qk_norm', d.use_qk_norm),
    useMeanPooling: v.bool('use_mean_pooling', d.use_mean_pooling),
  };
  if (vision.hiddenSize % vision.numAttentionHeads !== 0 || vision.imageSize % vision.patchSize !== 0) {
    throw new CheckpointError(
      `${v.where}: hidden_size ${vision.hiddenSize} / heads ${vision.numAttentionHeads} or image_size ${vision.imageSize} / patch_size ${vision.patchSize} does not divide`,
    );
  }
  if (vision.numChannels !== 3) {
    throw new CheckpointError(`${v.where}: num_channels ${vision.numChannels} is not supported (RGB only)`);
  }
  if (!v.bool('use_absolute_position_embeddings', d.use_absolute_position_embeddings)) {
    throw new UnsupportedModelError(`${v.where}: use_absolute_position_embeddings false is not supported`, {
      hint: 'every released InternVL-hf checkpoint has absolute position embeddings',
    });
  }
  const D = INTERNVL_DEFAULTS;
  // InternVLConfig.__post_init__: text_config.model_type defaults to qwen2.
  const text = parseTextConfig(r.sub('text_config'), 'qwen2');
  const downsampleRatio = r.num('downsample_ratio', D.downsample_ratio);
  // InternVLMultiModalProjector: int(1 / downsample_ratio) ** 2 blocks per token.
  const scaleFactor = Math.trunc(1 / downsampleRatio);
  const patchGrid = vision.imageSize / vision.patchSize;
  if (!(scaleFactor >= 1) || Math.abs(scaleFactor * downsampleRatio - 1) > 1e-9 || patchGrid % scaleFactor) {
    throw new CheckpointError(
      `${r.where}: downsample_ratio ${downsampleRatio} does not split the ${patchGrid}x${patchGrid} patch grid into whole blocks`,
      { hint: 'pixel shuffle needs 1 / downsample_ratio to be an integer dividing image_size / patch_size' },
    );
  }
  const layerRaw = r.raw['vision_feature_layer'];
  if (Array.isArray(layerRaw)) {
    throw new UnsupportedModelError(
      `${r.where}: a list vision_feature_layer ${JSON.stringify(layerRaw)} is not supported`,
      { hint: 'InternVL checkpoints select one layer (-1)' },
    );
  }
  const visionFeatureLayer = r.int('vision_feature_layer', D.vision_feature_layer);
  hiddenStateIndex(visionFeatureLayer, vision.numHiddenLayers); // range check
  const strategy = r.str('vision_feature_select_strategy', D.vision_feature_select_strategy);
  if (strategy !== 'default') {
    throw new UnsupportedModelError(
      `${r.where}: vision_feature_select_strategy "${strategy}" is not supported for InternVL`,
      { hint: "'full' keeps the CLS token, and InternVL's pixel shuffle then has no square grid to work on" },
    );
  }
  const tokenGrid = patchGrid / scaleFactor;
  return {
    vision,
    text,
    scaleFactor,
    downsampleRatio,
    visionFeatureLayer,
    visionFeatureSelectStrategy: 'default',
    projectorHiddenAct: r.str('projector_hidden_act', D.projector_hidden_act),
    imageTokenId: r.int('image_token_id', D.image_token_id),
    imageSeqLength: r.posInt('image_seq_length', D.image_seq_length),
    tie: r.bool('tie_word_embeddings', D.tie_word_embeddings),
    patchGrid,
    tokenGrid,
  };
}
