/**
 * Qwen3-VL config.json, typed, with the class defaults config.json omits.
 * Mirrors transformers 5.x models/qwen3_vl/configuration_qwen3_vl.py (read at commit
 * 000c33fdfde12e1ffafbfcdb3c926df5727a00b6; the 5.12.1 fixtures' config.json agrees field for field):
 *   Qwen3VLVisionConfig.__init__ (depth 27, hidden_size 1152, gelu_pytorch_tanh, intermediate 4304, 16 heads, patch 16,
 *   merge 2, temporal 2, out_hidden_size 3584, num_position_embeddings 2304, deepstack_visual_indexes [8, 16, 24]);
 *   Qwen3VLTextConfig.__init__ (vocab 151936, hidden 4096, 32 layers, rms_norm_eps 1e-6, untied, default_theta 5e5);
 *   Qwen3VLConfig.__init__ (image_token_id 151655; the text settings are always nested under text_config).
 */
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import type { ConfigReader } from '../../config/reader.js';
import { parseQwenVLTextConfig, type QwenVLTextConfig } from '../qwen2_5_vl/config.js';

/** Qwen3VLVisionConfig.__init__ defaults. */
export const QWEN3_VL_VISION_DEFAULTS = {
  depth: 27,
  hidden_size: 1152,
  hidden_act: 'gelu_pytorch_tanh',
  intermediate_size: 4304,
  num_heads: 16,
  in_channels: 3,
  patch_size: 16,
  spatial_merge_size: 2,
  temporal_patch_size: 2,
  out_hidden_size: 3584,
  num_position_embeddings: 2304,
  deepstack_visual_indexes: [8, 16, 24],
};

/** Qwen3VLTextConfig.__init__ defaults for the fields the lens (and the deep lens) needs. */
export const QWEN3_VL_TEXT_DEFAULTS = {
  vocab_size: 151936,
  hidden_size: 4096,
  num_hidden_layers: 32,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  rope_theta: 5e5, // Qwen3VLTextConfig.default_theta
};

export interface Qwen3VLVisionSpec {
  depth: number;
  /** ViT width (vision_config.hidden_size). */
  hidden: number;
  numHeads: number;
  intermediate: number;
  hiddenAct: string;
  inChannels: number;
  patchSize: number;
  temporalPatchSize: number;
  spatialMergeSize: number;
  /** The learned position table holds side x side rows (num_position_embeddings = side²). */
  numPositionEmbeddings: number;
  /** Vision blocks whose outputs feed the DeepStack mergers, in merger order. */
  deepstackIndexes: number[];
  /** Merger output = the text hidden size. */
  outHidden: number;
}

export interface Qwen3VLConfig {
  vision: Qwen3VLVisionSpec;
  text: QwenVLTextConfig;
  imageTokenId: number;
  visionStartTokenId: number;
  visionEndTokenId: number;
}

export function parseQwen3VLConfig(r: ConfigReader): Qwen3VLConfig {
  const v = r.sub('vision_config');
  const d = QWEN3_VL_VISION_DEFAULTS;
  const vision: Qwen3VLVisionSpec = {
    depth: v.posInt('depth', d.depth),
    hidden: v.posInt('hidden_size', d.hidden_size),
    numHeads: v.posInt('num_heads', d.num_heads),
    intermediate: v.posInt('intermediate_size', d.intermediate_size),
    hiddenAct: v.str('hidden_act', d.hidden_act),
    inChannels: v.posInt('in_channels', d.in_channels),
    patchSize: v.posInt('patch_size', d.patch_size),
    temporalPatchSize: v.posInt('temporal_patch_size', d.temporal_patch_size),
    spatialMergeSize: v.posInt('spatial_merge_size', d.spatial_merge_size),
    numPositionEmbeddings: v.posInt('num_position_embeddings', d.num_position_embeddings),
    deepstackIndexes: v.numArray('deepstack_visual_indexes', d.deepstack_visual_indexes),
    outHidden: v.posInt('out_hidden_size', d.out_hidden_size),
  };
  const text = parseQwenVLTextConfig(r, 'qwen3_vl_text', QWEN3_VL_TEXT_DEFAULTS);
  const hd = vision.hidden / vision.numHeads;
  if (!Number.isInteger(hd) || hd % 4 !== 0) {
    throw new UnsupportedModelError(
      `${v.where}: hidden_size ${vision.hidden} / num_heads ${vision.numHeads} must give a head_dim divisible by 4 (2-D rotary)`,
    );
  }
  const side = Math.round(Math.sqrt(vision.numPositionEmbeddings));
  if (side * side !== vision.numPositionEmbeddings) {
    throw new CheckpointError(
      `${v.where}: num_position_embeddings ${vision.numPositionEmbeddings} is not a square (the table is a side x side grid)`,
    );
  }
  for (const b of vision.deepstackIndexes) {
    if (!Number.isInteger(b) || b < 0 || b >= vision.depth) {
      throw new CheckpointError(
        `${v.where}: deepstack_visual_indexes entry ${b} is not a block index (depth ${vision.depth})`,
      );
    }
  }
  if (vision.outHidden !== text.hiddenSize) {
    throw new CheckpointError(
      `${v.where}: out_hidden_size ${vision.outHidden} (the merger output) differs from the text hidden_size ${text.hiddenSize}`,
      {
        hint: 'the merger output is what the LLM receives; config.json does not describe a Qwen3-VL checkpoint',
      },
    );
  }
  return {
    vision,
    text,
    imageTokenId: r.int('image_token_id', 151655),
    visionStartTokenId: r.int('vision_start_token_id', 151652),
    visionEndTokenId: r.int('vision_end_token_id', 151653),
  };
}
