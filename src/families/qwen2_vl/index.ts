/**
 * Qwen2-VL (`model_type: qwen2_vl`): dynamic resolution. The image is smart-resized to multiples of 28 px (patch 14 x
 * merge 2), cut into 14 px patches (each repeated over 2 time steps for the Conv3d), run through a ViT with 2-D rotary
 * positions, and every 2x2 block of patches is merged into one LLM token. One view, 'base': the merged grid, raster
 * order, each token's box its 2x2 patch block mapped back onto the original image.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/qwen2_vl/configuration_qwen2_vl.py
 * (flat Qwen2VLConfig, Qwen2VLVisionConfig defaults), modeling_qwen2_vl.py (vision tower, merger; image features go
 * into inputs_embeds unscaled) and image_processing_qwen2_vl.py.
 */
import type { ConfigReader, Json } from '../../config/reader.js';
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import { TensorNaming } from '../../graph/weights.js';
import { chooseBackend, IMAGE_BACKENDS } from '../../image/backend.js';
import { parseWith, type PreprocessResult } from '../../image/processor.js';
import { packFeatures, singleViewLayout } from '../../layout/layout.js';
import { parseDecoderConfig, QWEN2, QWEN2_VL_DECODER, type TextConfig } from '../../text/models.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { PIXEL_INPUT, type Family, type LoadedFamily } from '../types.js';
import {
  parseQwen2VLProcessorConfig,
  QWEN2VL_PROCESSOR,
  qwen2vlGrid,
  type Qwen2VLProcessorSpec,
} from './processor.js';
import {
  buildQwen2VLVisionGraph,
  qwen2vlVisionTensorNames,
  ROTARY_INPUT,
  visionRotaryAngles,
  type Qwen2VLVisionSpec,
} from './vision.js';
import { QWEN2_VL_LANGUAGE } from './language.js';

/** Qwen2VLVisionConfig.__init__ defaults. */
export const QWEN2VL_VISION_DEFAULTS = {
  depth: 32,
  embed_dim: 1280,
  hidden_size: 3584,
  hidden_act: 'quick_gelu',
  mlp_ratio: 4,
  num_heads: 16,
  in_channels: 3,
  patch_size: 14,
  spatial_merge_size: 2,
  temporal_patch_size: 2,
};

/** Qwen2VLConfig.__init__ defaults for the text fields the lens needs. */
export const QWEN2VL_TEXT_DEFAULTS = {
  vocab_size: 152064,
  hidden_size: 8192,
  num_hidden_layers: 80,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
};

export interface Qwen2VLConfig {
  vision: Qwen2VLVisionSpec;
  text: TextConfig;
  imageTokenId: number;
}

/**
 * Qwen2VLConfig is flat in 4.45 (text fields at the top level, `image_token_id`); later versions nest the text fields
 * under `text_config`, which is read when present. vision_config.hidden_size is the MERGER's output (= text hidden),
 * not the ViT width (embed_dim).
 */
export function parseQwen2VLConfig(r: ConfigReader): Qwen2VLConfig {
  const v = r.sub('vision_config');
  const vd = QWEN2VL_VISION_DEFAULTS;
  const embedDim = v.posInt('embed_dim', vd.embed_dim);
  const mlpRatio = v.num('mlp_ratio', vd.mlp_ratio);
  const vision: Qwen2VLVisionSpec = {
    depth: v.posInt('depth', vd.depth),
    embedDim,
    numHeads: v.posInt('num_heads', vd.num_heads),
    mlpHidden: Math.trunc(embedDim * mlpRatio), // Qwen2VLVisionBlock: int(config.embed_dim * config.mlp_ratio)
    hiddenAct: v.str('hidden_act', vd.hidden_act),
    inChannels: v.posInt('in_channels', vd.in_channels),
    patchSize: v.posInt('patch_size', vd.patch_size),
    temporalPatchSize: v.posInt('temporal_patch_size', vd.temporal_patch_size),
    spatialMergeSize: v.posInt('spatial_merge_size', vd.spatial_merge_size),
    outHidden: v.posInt('hidden_size', vd.hidden_size),
  };
  const t = r.has('text_config') ? r.sub('text_config') : r;
  const td = QWEN2VL_TEXT_DEFAULTS;
  const text: TextConfig = {
    modelType: 'qwen2_vl',
    vocabSize: t.posInt('vocab_size', td.vocab_size),
    hiddenSize: t.posInt('hidden_size', td.hidden_size),
    numHiddenLayers: t.posInt('num_hidden_layers', td.num_hidden_layers),
    rmsNormEps: t.num('rms_norm_eps', td.rms_norm_eps),
    tieWordEmbeddings: r.bool('tie_word_embeddings', t.bool('tie_word_embeddings', td.tie_word_embeddings)),
    decoder: parseDecoderConfig(t, QWEN2_VL_DECODER, td.hidden_size),
  };
  if (vision.outHidden !== text.hiddenSize) {
    throw new CheckpointError(
      `${r.where}: vision_config.hidden_size ${vision.outHidden} (the merger output) differs from the text hidden_size ${text.hiddenSize}`,
      {
        hint: 'the merger output is what the LLM receives; config.json does not describe a Qwen2-VL checkpoint',
      },
    );
  }
  return { vision, text, imageTokenId: r.int('image_token_id', 151655) };
}

/** Qwen2-VL text naming: `model.` / `lm_head.` (<= 4.51) and `model.language_model.` (>= 4.52). */
export const QWEN2VL_TEXT_NAMING = new TensorNaming({
  'language_model.model.': ['model.', 'model.language_model.'],
  'language_model.lm_head.': ['lm_head.'],
});

function processorSpec(
  preprocessor: Json | null,
  cfg: Qwen2VLConfig,
  where: string,
): { spec: Qwen2VLProcessorSpec; notices: string[] } {
  const notices: string[] = [];
  let spec: Qwen2VLProcessorSpec;
  if (preprocessor) {
    const file = `${where}/preprocessor_config.json`;
    spec = parseWith(
      preprocessor,
      file,
      qwen2vl.processors,
      QWEN2VL_PROCESSOR.type,
      'a qwen2_vl model',
    ) as Qwen2VLProcessorSpec;
  } else {
    spec = parseQwen2VLProcessorConfig(
      {
        patch_size: cfg.vision.patchSize,
        temporal_patch_size: cfg.vision.temporalPatchSize,
        merge_size: cfg.vision.spatialMergeSize,
      },
      `${where} (no preprocessor_config.json)`,
    );
    notices.push(`${where}: no preprocessor_config.json; using Qwen2VLImageProcessor defaults`);
  }
  const v = cfg.vision;
  if (
    spec.patchSize !== v.patchSize ||
    spec.temporalPatchSize !== v.temporalPatchSize ||
    spec.mergeSize !== v.spatialMergeSize
  ) {
    throw new CheckpointError(
      `${where}: preprocessor patch ${spec.patchSize}/temporal ${spec.temporalPatchSize}/merge ${spec.mergeSize} does not match vision_config ${v.patchSize}/${v.temporalPatchSize}/${v.spatialMergeSize}`,
    );
  }
  if (v.inChannels !== 3) {
    throw new UnsupportedModelError(
      `${where}: vision_config.in_channels ${v.inChannels} is not supported (RGB only)`,
    );
  }
  return { spec, notices };
}

export const qwen2vl: Family = {
  modelType: 'qwen2_vl',
  label: 'Qwen2-VL',
  exampleHubId: 'Qwen/Qwen2-VL-2B-Instruct',
  viewsDescription:
    'base: the smart-resized image (sides multiples of 28 px), one token per 2x2 block of 14 px patches, raster order',
  processors: [QWEN2VL_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load({ config, preprocessor, imageBackend, index, where }): LoadedFamily {
    const cfg = parseQwen2VLConfig(config);
    const { spec: parsed, notices } = processorSpec(preprocessor, cfg, where);
    const chosen = chooseBackend(parsed, imageBackend, qwen2vl.imageBackends!.default, where);
    const proc = chosen.spec;
    notices.push(chosen.notice);
    // The language model is Qwen2's (Qwen2RMSNorm, unscaled embeddings) under the flat qwen2_vl config.
    const text = resolveTextTensors(index, cfg.text, where, { naming: QWEN2VL_TEXT_NAMING, model: QWEN2 });
    const v = cfg.vision;
    const m = v.spatialMergeSize;
    const D = cfg.text.hiddenSize;
    const merged = (pre: PreprocessResult) => {
      const grid = qwen2vlGrid(pre, v.patchSize);
      return { grid, rows: grid.h / m, cols: grid.w / m };
    };
    return {
      modelType: 'qwen2_vl',
      views: ['base'],
      text: text.spec,
      language: QWEN2_VL_LANGUAGE,
      notices: [...notices, ...text.notices],
      visionTensorNames: () => qwen2vlVisionTensorNames(v, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildQwen2VLVisionGraph(v, tensors, { where }),
      processor: proc,
      imageBackend: proc.backend,
      // One "crop" of (h/2) x (w/2) merged tokens; the rotary angles depend on the image's patch grid.
      visionInputs: (pre) => {
        const { grid, rows, cols } = merged(pre);
        return {
          feeds: {
            [PIXEL_INPUT]: { data: pre.pixelValues, shape: [...pre.shape] },
            [ROTARY_INPUT]: visionRotaryAngles(grid, v.embedDim / v.numHeads, m).angles,
          },
          cropShape: [1, rows * cols],
        };
      },
      // The merger's output rows are the merged grid in raster order (pixel_values rows are block-major), so the
      // single-view layout over the (h/2) x (w/2) grid of the resized image gives every token its 2x2 block.
      layout: (pre) => {
        const { rows, cols } = merged(pre);
        return singleViewLayout(pre.geometry, { rows, cols });
      },
      pack: (cropFeatures, pre, layout) => {
        const { rows, cols } = merged(pre);
        return packFeatures(cropFeatures, [1, rows * cols, D], layout, null);
      },
    };
  },
};
