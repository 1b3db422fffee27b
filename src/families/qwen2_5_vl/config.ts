/**
 * Qwen2.5-VL config.json, typed, with the class defaults config.json omits.
 * Mirrors transformers 5.x models/qwen2_5_vl/configuration_qwen2_5_vl.py (read at commit
 * 018c8e0394c47749c55861e11f5f7e2a577973d7; the 5.12.1 fixtures' config.json agrees field for field):
 *   Qwen2_5_VLVisionConfig.__init__ (depth 32, hidden_size 3584, silu, intermediate 3420, 16 heads, patch 14, merge 2,
 *   temporal 2, window_size 112, out_hidden_size 3584, fullatt_block_indexes [7, 15, 23, 31]);
 *   Qwen2_5_VLTextConfig.__init__ (vocab 152064, hidden 8192, 80 layers, rms_norm_eps 1e-5, untied, rope_theta 1e6);
 *   Qwen2_5_VLConfig.__init__ (image_token_id 151655; without `text_config` the text settings are the top-level keys,
 *   the hub's flat layout). The rope settings are read from `rope_parameters` (5.x) or `rope_scaling` + `rope_theta`
 *   (hub files, `{"type": "mrope", "mrope_section": [...]}`), which load to the same thing.
 * NOTE: vision_config.hidden_size is the ViT width here (Qwen2-VL called it embed_dim and used hidden_size for the
 * merger output); the merger output is out_hidden_size.
 */
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import type { ConfigReader } from '../../config/reader.js';
import {
  parseDecoderConfig,
  QWEN2_VL_DECODER,
  QWEN3_VL_DECODER,
  type TextConfig,
} from '../../text/models.js';

/** Qwen2_5_VLVisionConfig.__init__ defaults. */
export const QWEN2_5_VL_VISION_DEFAULTS = {
  depth: 32,
  hidden_size: 3584,
  hidden_act: 'silu',
  intermediate_size: 3420,
  num_heads: 16,
  in_channels: 3,
  patch_size: 14,
  spatial_merge_size: 2,
  temporal_patch_size: 2,
  window_size: 112,
  out_hidden_size: 3584,
  fullatt_block_indexes: [7, 15, 23, 31],
};

/** Qwen2_5_VLTextConfig.__init__ defaults for the fields the lens (and the deep lens) needs. */
export const QWEN2_5_VL_TEXT_DEFAULTS = {
  vocab_size: 152064,
  hidden_size: 8192,
  num_hidden_layers: 80,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
  rope_theta: 1e6,
};

export interface Qwen2_5VLVisionSpec {
  depth: number;
  /** ViT width (vision_config.hidden_size). */
  hidden: number;
  numHeads: number;
  /** SwiGLU intermediate size. */
  intermediate: number;
  hiddenAct: string;
  inChannels: number;
  patchSize: number;
  temporalPatchSize: number;
  spatialMergeSize: number;
  /** Window side in resized-image pixels (window_size); window_size / merge / patch merged units per side. */
  windowSize: number;
  /** Blocks that attend over the whole image; the others attend within their window. */
  fullAttBlocks: number[];
  /** Merger output = the text hidden size. */
  outHidden: number;
}

/** The text model's rotary settings (for the deep lens; the projector-level lens does not use them). */
export interface QwenRope {
  theta: number;
  /** Frequencies per axis (t, h, w) of M-RoPE; their sum is head_dim / 2. */
  mropeSection: number[];
  /** Qwen3-VL's interleaved frequency layout (THWTHW…) instead of chunked (TT…HH…WW…). */
  interleaved: boolean;
}

export interface QwenVLTextConfig extends TextConfig {
  rope: QwenRope;
}

export interface Qwen2_5VLConfig {
  vision: Qwen2_5VLVisionSpec;
  text: QwenVLTextConfig;
  imageTokenId: number;
  visionStartTokenId: number;
  visionEndTokenId: number;
}

/**
 * The text settings of a Qwen-VL config: `text_config` when present (5.x), else the top level (hub files); the text
 * model_type is text_config's (qwen2_5_vl_text / qwen3_vl_text: Qwen2-style RMSNorm, unscaled embeddings).
 * tie_word_embeddings is read from the text settings, then the top level (both are written by 5.x).
 */
export function parseQwenVLTextConfig(
  r: ConfigReader,
  textModelType: string,
  d: typeof QWEN2_5_VL_TEXT_DEFAULTS,
): QwenVLTextConfig {
  const nested = r.has('text_config');
  const t = nested ? r.sub('text_config') : r;
  const rp = t.has('rope_parameters') ? t.sub('rope_parameters') : t.sub('rope_scaling');
  const rope: QwenRope = {
    theta: rp.num('rope_theta', t.num('rope_theta', d.rope_theta)),
    mropeSection: rp.numArray('mrope_section', []),
    interleaved: rp.bool('mrope_interleaved', false),
  };
  return {
    modelType: nested ? t.str('model_type', textModelType) : textModelType,
    vocabSize: t.posInt('vocab_size', d.vocab_size),
    hiddenSize: t.posInt('hidden_size', d.hidden_size),
    numHiddenLayers: t.posInt('num_hidden_layers', d.num_hidden_layers),
    rmsNormEps: t.num('rms_norm_eps', d.rms_norm_eps),
    tieWordEmbeddings: t.bool('tie_word_embeddings', r.bool('tie_word_embeddings', d.tie_word_embeddings)),
    // Qwen2.5-VL's text layer is Qwen2's (q/k/v biases) with M-RoPE; Qwen3-VL's has per-head q/k norms and an
    // interleaved M-RoPE (rope_parameters.mrope_interleaved).
    decoder: parseDecoderConfig(
      t,
      textModelType === 'qwen3_vl_text' ? QWEN3_VL_DECODER : QWEN2_VL_DECODER,
      d.hidden_size,
    ),
    rope,
  };
}

export function parseQwen2_5VLConfig(r: ConfigReader): Qwen2_5VLConfig {
  const v = r.sub('vision_config');
  const d = QWEN2_5_VL_VISION_DEFAULTS;
  const vision: Qwen2_5VLVisionSpec = {
    depth: v.posInt('depth', d.depth),
    hidden: v.posInt('hidden_size', d.hidden_size),
    numHeads: v.posInt('num_heads', d.num_heads),
    intermediate: v.posInt('intermediate_size', d.intermediate_size),
    hiddenAct: v.str('hidden_act', d.hidden_act),
    inChannels: v.posInt('in_channels', d.in_channels),
    patchSize: v.posInt('patch_size', d.patch_size),
    temporalPatchSize: v.posInt('temporal_patch_size', d.temporal_patch_size),
    spatialMergeSize: v.posInt('spatial_merge_size', d.spatial_merge_size),
    windowSize: v.posInt('window_size', d.window_size),
    fullAttBlocks: v.numArray('fullatt_block_indexes', d.fullatt_block_indexes),
    outHidden: v.posInt('out_hidden_size', d.out_hidden_size),
  };
  const text = parseQwenVLTextConfig(r, 'qwen2_5_vl_text', QWEN2_5_VL_TEXT_DEFAULTS);
  checkVision(vision, text, v.where);
  return {
    vision,
    text,
    imageTokenId: r.int('image_token_id', 151655),
    visionStartTokenId: r.int('vision_start_token_id', 151652),
    visionEndTokenId: r.int('vision_end_token_id', 151653),
  };
}

function checkVision(v: Qwen2_5VLVisionSpec, text: TextConfig, where: string): void {
  const hd = v.hidden / v.numHeads;
  if (!Number.isInteger(hd) || hd % 4 !== 0) {
    throw new UnsupportedModelError(
      `${where}: hidden_size ${v.hidden} / num_heads ${v.numHeads} must give a head_dim divisible by 4 (2-D rotary)`,
    );
  }
  const unit = v.spatialMergeSize * v.patchSize;
  if (v.windowSize % unit !== 0 || v.windowSize < unit) {
    throw new CheckpointError(
      `${where}: window_size ${v.windowSize} is not a multiple of patch_size * spatial_merge_size = ${unit}`,
      {
        hint: 'Qwen2.5-VL windows are whole merged units (112 px = 4 units of 28 px in the released models)',
      },
    );
  }
  for (const b of v.fullAttBlocks) {
    if (!Number.isInteger(b) || b < 0 || b >= v.depth) {
      throw new CheckpointError(
        `${where}: fullatt_block_indexes entry ${b} is not a block index (depth ${v.depth})`,
      );
    }
  }
  if (v.outHidden !== text.hiddenSize) {
    throw new CheckpointError(
      `${where}: out_hidden_size ${v.outHidden} (the merger output) differs from the text hidden_size ${text.hiddenSize}`,
      {
        hint: 'the merger output is what the LLM receives; config.json does not describe a Qwen2.5-VL checkpoint',
      },
    );
  }
}
