/**
 * Qwen2.5-VL (`model_type: qwen2_5_vl`): Qwen2-VL's dynamic resolution and 2-D rotary ViT, with window attention
 * (full attention only in the fullatt_block_indexes blocks), RMSNorm and SwiGLU blocks, an RMSNorm ln_q in the merger,
 * and the merge units reordered by window before the blocks and put back in raster order after the merger.
 * One view, 'base': the smart-resized image, one token per 2x2 block of patches, raster order; each token's box is its
 * block mapped back onto the original image. There are no row or tile markers: the prompt has <|vision_start|>, the
 * image tokens, <|vision_end|>.
 * Lens matrices: the released checkpoints are untied (tie_word_embeddings false, an lm_head tensor), so cosine/dot/l2/OMP
 * compare with embed_tokens (what the LLM receives for a text token) and the logit lens uses the final RMSNorm
 * (eps from text_config) then lm_head; the loader follows the checkpoint (no lm_head tensor = tied).
 * Mirrors transformers 5.12.1: models/qwen2_5_vl/{configuration,modeling}_qwen2_5_vl.py, processing_qwen2_5_vl.py,
 * and the shared Qwen2VLImageProcessor (src/families/qwen2_vl/processor.ts, either backend: --image-backend).
 */
import type { Json } from '../../config/reader.js';
import { imageProcessorSettings } from '../../config/processor-config.js';
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import { chooseBackend, IMAGE_BACKENDS, type ImageBackend } from '../../image/backend.js';
import { parseWith, type PreprocessResult, type ProcessorDef } from '../../image/processor.js';
import { packFeatures, singleViewLayout } from '../../layout/layout.js';
import type { NamedTensor } from '../../runtime/session.js';
import { QWEN2 } from '../../text/models.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { QWEN2VL_TEXT_NAMING } from '../qwen2_vl/index.js';
import { QWEN2_VL_LANGUAGE } from '../qwen2_vl/language.js';
import {
  parseQwen2VLProcessorConfig,
  QWEN2VL_PROCESSOR,
  qwen2vlGrid,
  type Qwen2VLProcessorSpec,
} from '../qwen2_vl/processor.js';
import { ROTARY_INPUT, visionRotaryAngles } from '../qwen2_vl/vision.js';
import {
  PIXEL_INPUT,
  type Family,
  type FamilyLoadArgs,
  type LoadedFamily,
  type VisionInputs,
} from '../types.js';
import { parseQwen2_5VLConfig, type Qwen2_5VLVisionSpec } from './config.js';
import {
  buildQwen2_5VLVisionGraph,
  qwen2_5vlVisionTensorNames,
  WINDOW_KEY_BIAS_INPUT,
  WINDOW_ORDER_INPUT,
  WINDOW_REVERSE_INPUT,
  WINDOW_ROWS_INPUT,
  WINDOW_SLOTS_INPUT,
} from './vision.js';
import { windowGraphInputs, windowPlan } from './windows.js';

/**
 * Qwen2VLImageProcessor under the names 5.x files use for its backends (the Fast/torchvision class, the Pil class);
 * for parsing only: the spec it gives runs as QWEN2VL_PROCESSOR (registered by the qwen2_vl family and here).
 */
const QWEN_VL_PROCESSOR_NAMES: ProcessorDef = {
  ...QWEN2VL_PROCESSOR,
  aliases: ['Qwen2VLImageProcessorFast', 'Qwen2VLImageProcessorPil'],
} as ProcessorDef;

/**
 * The image processor settings (preprocessor_config.json or 5.x processor_config.json → image_processor), checked
 * against vision_config (patch, temporal patch and merge sizes must agree), on `files.imageBackend` or the family's
 * default backend `dflt` (the notice says which).
 */
export function qwenVLProcessorSpec(
  files: Pick<FamilyLoadArgs, 'preprocessor' | 'processorConfig' | 'where' | 'imageBackend'>,
  vision: Pick<Qwen2_5VLVisionSpec, 'patchSize' | 'temporalPatchSize' | 'spatialMergeSize' | 'inChannels'>,
  family: string,
  dflt: ImageBackend = 'pil',
): { spec: Qwen2VLProcessorSpec; notices: string[] } {
  const where = files.where;
  const found = imageProcessorSettings(files.preprocessor, files.processorConfig ?? null, where);
  const notices: string[] = [];
  let spec: Qwen2VLProcessorSpec;
  if (found.found) {
    spec = parseWith(
      found.settings,
      found.where,
      [QWEN_VL_PROCESSOR_NAMES],
      QWEN2VL_PROCESSOR.type,
      `a ${family} model`,
    ) as Qwen2VLProcessorSpec;
  } else {
    const defaults: Json = {
      patch_size: vision.patchSize,
      temporal_patch_size: vision.temporalPatchSize,
      merge_size: vision.spatialMergeSize,
    };
    spec = parseQwen2VLProcessorConfig(defaults, found.where);
    notices.push(
      `${where}: neither preprocessor_config.json nor processor_config.json; using Qwen2VLImageProcessor defaults`,
    );
  }
  if (
    spec.patchSize !== vision.patchSize ||
    spec.temporalPatchSize !== vision.temporalPatchSize ||
    spec.mergeSize !== vision.spatialMergeSize
  ) {
    throw new CheckpointError(
      `${where}: image processor patch ${spec.patchSize}/temporal ${spec.temporalPatchSize}/merge ${spec.mergeSize} does not match vision_config ${vision.patchSize}/${vision.temporalPatchSize}/${vision.spatialMergeSize}`,
      {
        hint: 'the processor and the vision tower must cut the same patches; check both files of the checkpoint',
      },
    );
  }
  if (vision.inChannels !== 3) {
    throw new UnsupportedModelError(
      `${where}: vision_config.in_channels ${vision.inChannels} is not supported (RGB only)`,
    );
  }
  const chosen = chooseBackend(spec, files.imageBackend, dflt, where);
  notices.push(chosen.notice);
  return { spec: chosen.spec, notices };
}

/** The vision graph's inputs for one image: pixel_values, the rotary angles (raster) and the window plan. */
export function qwen2_5vlVisionInputs(pre: PreprocessResult, v: Qwen2_5VLVisionSpec): VisionInputs {
  const grid = qwen2vlGrid(pre, v.patchSize);
  const n = grid.t * grid.h * grid.w;
  const w = windowGraphInputs(windowPlan(grid, v), v);
  const feeds: Record<string, NamedTensor> = {
    [PIXEL_INPUT]: { data: pre.pixelValues, shape: [...pre.shape] },
    [ROTARY_INPUT]: visionRotaryAngles(grid, v.hidden / v.numHeads, v.spatialMergeSize).angles,
    [WINDOW_ORDER_INPUT]: { data: w.patchOrder, shape: [n] },
    [WINDOW_SLOTS_INPUT]: { data: w.slots, shape: [w.slots.length] },
    [WINDOW_KEY_BIAS_INPUT]: { data: w.keyBias, shape: [w.keyBias.length] },
    [WINDOW_ROWS_INPUT]: { data: w.rows, shape: [n] },
    [WINDOW_REVERSE_INPUT]: { data: w.reverse, shape: [w.reverse.length] },
  };
  return { feeds, cropShape: [1, n / v.spatialMergeSize ** 2] };
}

export const qwen2_5vl: Family = {
  modelType: 'qwen2_5_vl',
  label: 'Qwen2.5-VL',
  exampleHubId: 'Qwen/Qwen2.5-VL-3B-Instruct',
  viewsDescription:
    'base: the smart-resized image (sides multiples of 28 px), one token per 2x2 block of 14 px patches, raster order',
  processors: [QWEN2VL_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load(args): LoadedFamily {
    const { config, index, where } = args;
    const cfg = parseQwen2_5VLConfig(config);
    const v = cfg.vision;
    const { spec: proc, notices } = qwenVLProcessorSpec(
      args,
      v,
      'qwen2_5_vl',
      qwen2_5vl.imageBackends!.default,
    );
    // The language model is Qwen2's (Qwen2RMSNorm, unscaled embeddings) under qwen2_5_vl_text.
    const text = resolveTextTensors(index, cfg.text, where, { naming: QWEN2VL_TEXT_NAMING, model: QWEN2 });
    const m = v.spatialMergeSize;
    const D = cfg.text.hiddenSize;
    const merged = (pre: PreprocessResult) => {
      const grid = qwen2vlGrid(pre, v.patchSize);
      return { rows: grid.h / m, cols: grid.w / m };
    };
    return {
      modelType: 'qwen2_5_vl',
      views: ['base'],
      text: text.spec,
      // Qwen2-VL's prompt, placeholder expansion and M-RoPE positions (for an image, Qwen2.5-VL's get_rope_index
      // gives the same (t, h, w) as Qwen2-VL's; second_per_grid_t only matters for videos)
      language: QWEN2_VL_LANGUAGE,
      notices: [...notices, ...text.notices],
      processor: proc,
      imageBackend: proc.backend,
      visionTensorNames: () => qwen2_5vlVisionTensorNames(v, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildQwen2_5VLVisionGraph(v, tensors, { where }),
      visionInputs: (pre) => qwen2_5vlVisionInputs(pre, v),
      // The graph returns the merged tokens in raster order (the window permutation is undone inside it), so the
      // single-view layout over the merged grid gives every token its 2x2 block, as for Qwen2-VL.
      layout: (pre) => singleViewLayout(pre.geometry, merged(pre)),
      pack: (cropFeatures, pre, layout) => {
        const { rows, cols } = merged(pre);
        return packFeatures(cropFeatures, [1, rows * cols, D], layout, null);
      },
    };
  },
};
