/**
 * LlavaConfig / LlavaNextConfig parsing with HF's defaults (configuration_llava.py and
 * configuration_llava_next.py at transformers v4.45.1, e71a01a104dd663c730e494eb0b6467bb51df357).
 */
import { CheckpointError, UnsupportedModelError } from '../errors.js';
import {
  ConfigReader,
  parseTextConfig,
  parseVisionTowerConfig,
  type TextConfig,
  type VisionTowerConfig,
} from './config.js';

export type FeatureStrategy = 'default' | 'full';

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

export interface LlavaNextConfig extends LlavaConfig {
  /** [height, width] pairs; LlavaNextConfig default [[336,672],[672,336],[672,672],[1008,336],[336,1008]]. */
  gridPinpoints: Array<[number, number]>;
}

export const LLAVA_NEXT_DEFAULT_PINPOINTS: Array<[number, number]> = [
  [336, 672],
  [672, 336],
  [672, 672],
  [1008, 336],
  [336, 1008],
];

export function parseLlavaConfig(r: ConfigReader): LlavaConfig {
  const vision = parseVisionTowerConfig(r);
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

export function parseLlavaNextConfig(r: ConfigReader): LlavaNextConfig {
  const base = parseLlavaConfig(r);
  const raw = r.raw['image_grid_pinpoints'];
  let gridPinpoints = LLAVA_NEXT_DEFAULT_PINPOINTS;
  if (raw !== undefined && raw !== null) {
    if (
      !Array.isArray(raw) ||
      !raw.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => Number.isInteger(x) && x > 0))
    ) {
      throw new CheckpointError(
        `${r.where}: image_grid_pinpoints must be a list of [height, width] pairs, got ${JSON.stringify(raw)}`,
      );
    }
    gridPinpoints = raw as Array<[number, number]>;
  }
  return { ...base, gridPinpoints };
}
