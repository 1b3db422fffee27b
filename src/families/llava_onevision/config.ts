/**
 * LlavaOnevisionConfig parsing with HF's defaults (models/llava_onevision/configuration_llava_onevision.py at
 * transformers v4.45.1, e71a01a104dd663c730e494eb0b6467bb51df357), on top of LLaVA-NeXT's parser.
 */
import { ConfigReader, type Json } from '../../config/reader.js';
import { UnsupportedModelError } from '../../errors.js';
import { parseLlavaNextConfig, type LlavaNextConfig } from '../llava_next/config.js';
import { ONEVISION_DEFAULT_PINPOINTS } from './processor.js';

/**
 * LlavaOnevisionConfig.__init__ defaults, applied before the shared LLaVA-NeXT parser (whose own defaults are
 * LLaVA's): an absent vision_config is SiglipVisionConfig(intermediate 4096, hidden 1024, patch 14, image 336, 24 layers,
 * 16 heads) (LLaVA's CLIP-L sizes, as written in 4.45; real checkpoints always write theirs), a dict without model_type is
 * a siglip_vision_model; text_config qwen2; feature layer -1, strategy 'full', vision_aspect_ratio 'anyres_max_9', the
 * 384-grid pinpoints, image_token_index 151646.
 */
export const ONEVISION_DEFAULT_VISION: Json = {
  model_type: 'siglip_vision_model',
  intermediate_size: 4096,
  hidden_size: 1024,
  patch_size: 14,
  image_size: 336,
  num_hidden_layers: 24,
  num_attention_heads: 16,
};

export interface LlavaOnevisionConfig extends LlavaNextConfig {
  /** N of vision_aspect_ratio "anyres_max_N". */
  anyresMax: number;
}

export function parseLlavaOnevisionConfig(r: ConfigReader): LlavaOnevisionConfig {
  const raw = r.raw;
  const vision = raw['vision_config'];
  const text = raw['text_config'];
  const withDefaults: Json = {
    vision_feature_layer: -1,
    vision_feature_select_strategy: 'full',
    image_grid_pinpoints: ONEVISION_DEFAULT_PINPOINTS,
    image_token_index: 151646,
    ...raw,
    vision_config:
      vision && typeof vision === 'object'
        ? { model_type: 'siglip_vision_model', ...(vision as Json) }
        : ONEVISION_DEFAULT_VISION,
    text_config:
      text && typeof text === 'object' ? { model_type: 'qwen2', ...(text as Json) } : { model_type: 'qwen2' },
  };
  const base = parseLlavaNextConfig(new ConfigReader(withDefaults, r.where));
  // pack_image_features: int(vision_aspect_ratio.strip("anyres_max_")); str.strip removes a character SET from both ends.
  const aspect = r.str('vision_aspect_ratio', 'anyres_max_9');
  const stripped = aspect.replace(/^[anyres_max]+/, '').replace(/[anyres_max]+$/, '');
  const anyresMax = Number(stripped);
  if (!/^\d+$/.test(stripped) || anyresMax <= 0) {
    throw new UnsupportedModelError(`${r.where}: vision_aspect_ratio "${aspect}" is not supported`, {
      hint: 'LLaVA-OneVision images use "anyres_max_<N>" (e.g. anyres_max_9)',
    });
  }
  return { ...base, anyresMax };
}
