/**
 * The vision-tower registry: one VisionTowerDef per `vision_config.model_type`. Adding a tower is one module
 * exporting its def plus one line here; families look towers up by model_type and never name one.
 */
import type { ConfigReader } from '../config/reader.js';
import { CheckpointError } from '../errors.js';
import { CLIP_TOWER } from './clip.js';
import { SIGLIP_TOWER } from './siglip.js';
import type { VisionTowerConfig, VisionTowerDef } from './vision-tower.js';

export const VISION_TOWERS: ReadonlyMap<string, VisionTowerDef> = new Map(
  [CLIP_TOWER, SIGLIP_TOWER].map((t) => [t.modelType, t]),
);

export function visionTowerDef(modelType: string, where: string): VisionTowerDef {
  const t = VISION_TOWERS.get(modelType);
  if (!t) {
    throw new CheckpointError(`${where}: unsupported vision tower model_type "${modelType}"`, {
      hint: `supported vision towers: ${[...VISION_TOWERS.keys()].join(', ')}`,
    });
  }
  return t;
}

/**
 * Parses a vision sub-config with its tower class's defaults. `r` reads the vision_config dict itself; a dict
 * without model_type is a `defaultModelType` tower (as the composite config classes build it).
 */
export function parseVisionTowerConfig(r: ConfigReader, defaultModelType: string): VisionTowerConfig {
  const modelType = r.str('model_type', defaultModelType);
  const d = visionTowerDef(modelType, r.where).defaults;
  const cfg: VisionTowerConfig = {
    modelType,
    hiddenSize: r.posInt('hidden_size', d.hidden_size),
    intermediateSize: r.posInt('intermediate_size', d.intermediate_size),
    numHiddenLayers: r.posInt('num_hidden_layers', d.num_hidden_layers),
    numAttentionHeads: r.posInt('num_attention_heads', d.num_attention_heads),
    numChannels: r.posInt('num_channels', d.num_channels),
    imageSize: r.posInt('image_size', d.image_size),
    patchSize: r.posInt('patch_size', d.patch_size),
    hiddenAct: r.str('hidden_act', d.hidden_act),
    layerNormEps: r.num('layer_norm_eps', d.layer_norm_eps),
  };
  if (cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    throw new CheckpointError(
      `${r.where}: hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numAttentionHeads}`,
    );
  }
  if (cfg.imageSize % cfg.patchSize !== 0) {
    throw new CheckpointError(
      `${r.where}: image_size ${cfg.imageSize} is not divisible by patch_size ${cfg.patchSize}`,
    );
  }
  return cfg;
}
