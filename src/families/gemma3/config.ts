/**
 * Typed Gemma 3 config.json (`model_type: gemma3`): a SigLIP vision tower, the multimodal projector's token count,
 * the special-token ids and the Gemma 3 text model.
 * Class defaults (config.json omits values equal to them): transformers models/gemma3/configuration_gemma3.py
 * (Gemma3Config: mm_tokens_per_image 256, boi_token_index 255999, eoi_token_index 256000, image_token_index 262144,
 * tie_word_embeddings true; Gemma3TextConfig: see src/text/models.ts GEMMA3_TEXT) and models/siglip/
 * configuration_siglip.py (SiglipVisionConfig, built with its own defaults when vision_config is absent), read at
 * commit 008f5c8c; the 5.12.1 fixture config.json (fixtures-modern/tiny-gemma3) agrees on every key it writes.
 */
import type { ConfigReader } from '../../config/reader.js';
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import { parseVisionTowerConfig } from '../../graph/towers.js';
import type { VisionTowerConfig } from '../../graph/vision-tower.js';
import {
  gemma3TextDecoder,
  parseGemmaDecoderConfig,
  type GemmaDecoderConfig,
} from '../../text/gemma-decoder.js';
import { parseTextConfig, type TextConfig } from '../../text/models.js';

/** Gemma3Config.__init__ defaults. */
export const GEMMA3_DEFAULTS = {
  mm_tokens_per_image: 256,
  boi_token_index: 255_999,
  eoi_token_index: 256_000,
  image_token_index: 262_144,
  tie_word_embeddings: true,
};

export interface Gemma3Config {
  vision: VisionTowerConfig;
  text: TextConfig;
  /** The decoder's shape (for the deep lens; the vision path does not read it). */
  decoder: GemmaDecoderConfig;
  mmTokensPerImage: number;
  boiTokenId: number;
  eoiTokenId: number;
  imageTokenId: number;
  tie: boolean;
  /** Patches per side (image_size / patch_size), tokens per side (sqrt(mm_tokens_per_image)), pool kernel. */
  patchGrid: number;
  tokenGrid: number;
  poolKernel: number;
}

export function parseGemma3Config(r: ConfigReader): Gemma3Config {
  const v = r.sub('vision_config');
  const vision = parseVisionTowerConfig(v, 'siglip_vision_model');
  if (vision.modelType !== 'siglip_vision_model') {
    throw new UnsupportedModelError(
      `${v.where}: vision model_type "${vision.modelType}" is not a SigLIP tower`,
      { hint: 'Gemma 3 checkpoints use siglip_vision_model; this config describes another model' },
    );
  }
  if (vision.numChannels !== 3) {
    throw new CheckpointError(`${v.where}: num_channels ${vision.numChannels} is not supported (RGB only)`);
  }
  const t = r.sub('text_config');
  const text = parseTextConfig(t, 'gemma3_text');
  if (text.modelType !== 'gemma3_text') {
    throw new UnsupportedModelError(`${t.where}: text model_type "${text.modelType}" is not gemma3_text`);
  }
  const mm = r.posInt('mm_tokens_per_image', GEMMA3_DEFAULTS.mm_tokens_per_image);
  const patchGrid = vision.imageSize / vision.patchSize;
  const tokenGrid = Math.round(Math.sqrt(mm));
  // Gemma3MultiModalProjector: tokens_per_side = int(mm_tokens_per_image ** 0.5), kernel_size = patches_per_image //
  // tokens_per_side; a non-square count or a kernel that does not tile the grid gives a different token count.
  if (tokenGrid * tokenGrid !== mm || patchGrid % tokenGrid !== 0) {
    throw new CheckpointError(
      `${r.where}: mm_tokens_per_image ${mm} is not a square that tiles the ${patchGrid}x${patchGrid} patch grid`,
      {
        hint: 'the projector pools the patch grid to sqrt(mm_tokens_per_image) tokens per side; fix config.json',
      },
    );
  }
  const decoder = parseGemmaDecoderConfig(t, 'gemma3_text');
  return {
    vision,
    // the deep lens runs Gemma 3's layer as the shared decoder layer with its options (src/text/gemma-decoder.ts)
    text: {
      ...text,
      decoder: gemma3TextDecoder(decoder, {
        attentionBias: t.bool('attention_bias', false),
        bidirectionalText: t.raw['use_bidirectional_attention'] === true,
      }),
    },
    decoder,
    mmTokensPerImage: mm,
    boiTokenId: r.int('boi_token_index', GEMMA3_DEFAULTS.boi_token_index),
    eoiTokenId: r.int('eoi_token_index', GEMMA3_DEFAULTS.eoi_token_index),
    imageTokenId: r.int('image_token_index', GEMMA3_DEFAULTS.image_token_index),
    tie: r.bool('tie_word_embeddings', GEMMA3_DEFAULTS.tie_word_embeddings),
    patchGrid,
    tokenGrid,
    poolKernel: patchGrid / tokenGrid,
  };
}
