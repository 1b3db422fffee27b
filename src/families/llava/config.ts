/**
 * LlavaConfig parsing with HF's defaults (configuration_llava.py at transformers v4.45.1,
 * e71a01a104dd663c730e494eb0b6467bb51df357); LLaVA-NeXT and LLaVA-OneVision extend it.
 */
import { ConfigReader, type Json } from '../../config/reader.js';
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import type { FeatureStrategy } from '../../graph/blocks.js';
import { parseVisionTowerConfig } from '../../graph/towers.js';
import type { VisionTowerConfig } from '../../graph/vision-tower.js';
import { parseTextConfig, type TextConfig } from '../../text/models.js';

export type { FeatureStrategy } from '../../graph/blocks.js';

export interface LlavaConfig {
  modelType: string;
  vision: VisionTowerConfig;
  text: TextConfig;
  /** hidden_states index as written in config.json (negative counts from the end). */
  featureLayer: number;
  /** Resolved to a non-negative hidden_states index (0 = embeddings after pre_layrnorm). */
  featureLayerIndex: number;
  strategy: FeatureStrategy;
  projectorAct: string;
  imageTokenIndex: number;
  /** Whether config.json's top level declares tie_word_embeddings (LlavaNextConfig writes it; LlavaConfig does not). */
  topLevelTie?: boolean;
}

/**
 * LlavaConfig's vision_config when config.json has none: CLIPVisionConfig(intermediate_size=4096, hidden_size=1024,
 * patch_size=14, image_size=336, num_hidden_layers=24, num_attention_heads=16) (configuration_llava.py). A present
 * dict without model_type is a clip_vision_model with CLIPVisionConfig's own defaults.
 */
export const LLAVA_DEFAULT_VISION: Json = {
  model_type: 'clip_vision_model',
  intermediate_size: 4096,
  hidden_size: 1024,
  patch_size: 14,
  image_size: 336,
  num_hidden_layers: 24,
  num_attention_heads: 16,
};

export function parseLlavaConfig(r: ConfigReader): LlavaConfig {
  const vision = parseVisionTowerConfig(
    r.has('vision_config')
      ? r.sub('vision_config')
      : new ConfigReader(LLAVA_DEFAULT_VISION, `${r.where} → vision_config (default)`),
    'clip_vision_model',
  );
  // LlavaConfig: text_config default LlamaConfig (model_type "llama").
  const text = parseTextConfig(r.sub('text_config'), 'llama');
  const fl = r.raw['vision_feature_layer'];
  if (Array.isArray(fl)) {
    throw new UnsupportedModelError(
      `${r.where}: vision_feature_layer as a list (${JSON.stringify(fl)}) is not supported yet`,
      {
        hint: 'imgtokens reads checkpoints with one vision_feature_layer',
      },
    );
  }
  const featureLayer = r.int('vision_feature_layer', -2);
  const nHidden = vision.numHiddenLayers + 1; // hidden_states: embeddings + every layer
  const featureLayerIndex = featureLayer < 0 ? nHidden + featureLayer : featureLayer;
  if (featureLayerIndex < 0 || featureLayerIndex >= nHidden) {
    throw new CheckpointError(
      `${r.where}: vision_feature_layer ${featureLayer} is out of range for a ${vision.numHiddenLayers}-layer vision tower (hidden_states has ${nHidden} entries)`,
    );
  }
  const strategy = r.str('vision_feature_select_strategy', 'default');
  if (strategy !== 'default' && strategy !== 'full') {
    throw new CheckpointError(
      `${r.where}: vision_feature_select_strategy must be "default" or "full", got "${strategy}"`,
    );
  }
  const projectorAct = r.str('projector_hidden_act', 'gelu');
  if (!['gelu', 'gelu_pytorch_tanh', 'gelu_new', 'quick_gelu', 'relu', 'silu'].includes(projectorAct)) {
    throw new UnsupportedModelError(`${r.where}: projector_hidden_act "${projectorAct}" is not supported`);
  }
  return {
    modelType: r.str('model_type'),
    vision,
    text,
    featureLayer,
    featureLayerIndex,
    strategy,
    projectorAct,
    imageTokenIndex: r.int('image_token_index', 32000),
    topLevelTie: r.has('tie_word_embeddings') ? r.bool('tie_word_embeddings', false) : undefined,
  };
}
