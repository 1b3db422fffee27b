/**
 * PaliGemmaConfig parsing with HF's defaults (models/paligemma/configuration_paligemma.py at transformers v4.45.1,
 * e71a01a104dd663c730e494eb0b6467bb51df357): a SigLIP vision_config, a Gemma / Gemma-2 text_config.
 */
import { ConfigReader, type Json } from '../../config/reader.js';
import { UnsupportedModelError } from '../../errors.js';
import { parseVisionTowerConfig } from '../../graph/towers.js';
import type { VisionTowerConfig } from '../../graph/vision-tower.js';
import { parseTextConfig, type TextConfig } from '../../text/models.js';

export interface PaliGemmaConfig {
  vision: VisionTowerConfig;
  text: TextConfig;
  /** Top-level PaliGemmaConfig.hidden_size: 4.45 divides the image features by its square root. */
  hiddenSize: number;
  /** Projector output size (PaliGemmaConfig.projection_dim, copied into vision_config.projection_dim). */
  projectionDim: number;
  imageTokenIndex: number;
}

/** PaliGemmaConfig.__init__ defaults (paligemma-3b-224). */
export const PALIGEMMA_DEFAULTS = {
  image_token_index: 256000,
  vocab_size: 257152,
  projection_dim: 2048,
  hidden_size: 2048,
  /** vision_config=None: SiglipVisionConfig(...) with these overrides. */
  vision_config: {
    model_type: 'siglip_vision_model',
    intermediate_size: 4096,
    hidden_size: 1152,
    patch_size: 14,
    image_size: 224,
    num_hidden_layers: 27,
    num_attention_heads: 16,
    vision_use_head: false,
  },
  /** text_config=None: GemmaConfig(...) with these overrides (vocab_size = the top-level one). */
  text_config: {
    model_type: 'gemma',
    hidden_size: 2048,
    num_hidden_layers: 18,
    intermediate_size: 16384,
    num_attention_heads: 8,
    num_key_value_heads: 1,
  },
};

const TEXT_MODEL_TYPES = ['gemma', 'gemma2'];

export function parsePaliGemmaConfig(r: ConfigReader): PaliGemmaConfig {
  const d = PALIGEMMA_DEFAULTS;
  // 4.45 stores the top-level vocabulary size as `_vocab_size` (older configs: `vocab_size`).
  const vocabSize = r.has('_vocab_size') ? r.posInt('_vocab_size') : r.posInt('vocab_size', d.vocab_size);
  // A vision_config dict without model_type is a siglip_vision_model; none at all is PaliGemma's SigLIP-So400m.
  const visionRaw: Json = r.has('vision_config')
    ? { model_type: 'siglip_vision_model', ...r.sub('vision_config').raw }
    : d.vision_config;
  const vision = parseVisionTowerConfig(
    new ConfigReader(visionRaw, `${r.where} → vision_config`),
    'siglip_vision_model',
  );
  if (vision.modelType !== 'siglip_vision_model') {
    throw new UnsupportedModelError(
      `${r.where} → vision_config: PaliGemma with a "${vision.modelType}" tower is not supported`,
      { hint: 'PaliGemma checkpoints use siglip_vision_model' },
    );
  }
  const textReader = r.has('text_config')
    ? r.sub('text_config')
    : new ConfigReader({ ...d.text_config, vocab_size: vocabSize }, `${r.where} → text_config (default)`);
  const text = parseTextConfig(textReader, 'gemma');
  if (!TEXT_MODEL_TYPES.includes(text.modelType)) {
    throw new UnsupportedModelError(
      `${textReader.where}: PaliGemma with a "${text.modelType}" language model is not supported`,
      { hint: `supported: ${TEXT_MODEL_TYPES.join(', ')}` },
    );
  }
  return {
    vision,
    text,
    hiddenSize: r.posInt('hidden_size', d.hidden_size),
    projectionDim: r.posInt('projection_dim', d.projection_dim),
    imageTokenIndex: r.int('image_token_index', d.image_token_index),
  };
}
