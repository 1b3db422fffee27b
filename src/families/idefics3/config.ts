/**
 * Typed Idefics3 / SmolVLM config.json: the SigLIP-style vision tower, the pixel-shuffle factor, the Llama text model.
 * Class defaults (transformers 5.12.1): models/idefics3/configuration_idefics3.py (Idefics3VisionConfig,
 * Idefics3Config) and models/smolvlm/configuration_smolvlm.py (SmolVLMVisionConfig, SmolVLMConfig) share the same
 * values; config.json omits the ones equal to them.
 */
import { CheckpointError } from '../../errors.js';
import type { ConfigReader } from '../../config/reader.js';
import type { VisionTowerConfig } from '../../graph/vision-tower.js';
import { parseTextConfig, type TextConfig } from '../../text/models.js';

/** Idefics3VisionConfig.__init__ = SmolVLMVisionConfig.__init__ defaults. */
export const IDEFICS3_VISION_DEFAULTS = {
  hidden_size: 1152,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 16,
  num_channels: 3,
  image_size: 224,
  patch_size: 32,
  hidden_act: 'gelu_pytorch_tanh',
  layer_norm_eps: 1e-6,
};

/** Idefics3Config.__init__ = SmolVLMConfig.__init__ defaults. */
export const IDEFICS3_DEFAULTS = {
  image_token_id: 128257,
  scale_factor: 2,
  tie_word_embeddings: false,
};

export interface Idefics3Config {
  vision: VisionTowerConfig;
  text: TextConfig;
  /** Pixel-shuffle factor s: s x s patches become one token. */
  scaleFactor: number;
  imageTokenId: number;
  /** Top-level tie_word_embeddings (the one transformers 5 decides tying by). */
  tie: boolean;
  /** Patches per tile side (image_size / patch_size) and tokens per tile side after the shuffle. */
  patchGrid: number;
  tokenGrid: number;
}

export function parseIdefics3Config(r: ConfigReader, visionModelType: string): Idefics3Config {
  const v = r.sub('vision_config');
  const d = IDEFICS3_VISION_DEFAULTS;
  const vision: VisionTowerConfig = {
    modelType: v.str('model_type', visionModelType),
    hiddenSize: v.posInt('hidden_size', d.hidden_size),
    intermediateSize: v.posInt('intermediate_size', d.intermediate_size),
    numHiddenLayers: v.posInt('num_hidden_layers', d.num_hidden_layers),
    numAttentionHeads: v.posInt('num_attention_heads', d.num_attention_heads),
    numChannels: v.posInt('num_channels', d.num_channels),
    imageSize: v.posInt('image_size', d.image_size),
    patchSize: v.posInt('patch_size', d.patch_size),
    hiddenAct: v.str('hidden_act', d.hidden_act),
    layerNormEps: v.num('layer_norm_eps', d.layer_norm_eps),
  };
  if (vision.hiddenSize % vision.numAttentionHeads !== 0 || vision.imageSize % vision.patchSize !== 0) {
    throw new CheckpointError(
      `${v.where}: hidden_size ${vision.hiddenSize} / heads ${vision.numAttentionHeads} or image_size ${vision.imageSize} / patch_size ${vision.patchSize} does not divide`,
    );
  }
  if (vision.numChannels !== 3) {
    throw new CheckpointError(`${v.where}: num_channels ${vision.numChannels} is not supported (RGB only)`);
  }
  // Idefics3Config builds LlamaConfig(rms_norm_eps=1e-5, tie_word_embeddings=False) when text_config is absent.
  const text = r.has('text_config')
    ? parseTextConfig(r.sub('text_config'), 'llama')
    : { ...parseTextConfig(r.sub('text_config'), 'llama'), rmsNormEps: 1e-5 };
  const scaleFactor = r.posInt('scale_factor', IDEFICS3_DEFAULTS.scale_factor);
  const patchGrid = vision.imageSize / vision.patchSize;
  if (patchGrid % scaleFactor !== 0) {
    throw new CheckpointError(
      `${r.where}: scale_factor ${scaleFactor} does not divide the ${patchGrid}x${patchGrid} patch grid`,
      { hint: 'pixel shuffle needs whole s x s blocks; config.json does not describe this checkpoint' },
    );
  }
  return {
    vision,
    text,
    scaleFactor,
    imageTokenId: r.int('image_token_id', IDEFICS3_DEFAULTS.image_token_id),
    tie: r.bool('tie_word_embeddings', IDEFICS3_DEFAULTS.tie_word_embeddings),
    patchGrid,
    tokenGrid: patchGrid / scaleFactor,
  };
}
