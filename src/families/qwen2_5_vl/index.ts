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
 * and the shared Qwen2VLImageProcessor (src/image/qwen2vl.ts, its Pillow backend).
 */
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import type { Json } from '../../arch/config.js';
import { packFeatures, singleViewLayout } from '../../arch/layout.js';
import { QWEN2VL_TEXT_NAMING } from '../../arch/qwen2_vl.js';
import { resolveTextTensors } from '../../arch/text.js';
import type { ArchFamily, LoadedFamily } from '../../arch/types.js';
import { ROTARY_INPUT, visionRotaryAngles } from '../../graph/qwen2vl.js';
import type { PreprocessResult } from '../../image/processors.js';
import {
  parseQwen2VLProcessorConfig,
  qwen2vlGrid,
  qwen2vlPreprocess,
  type Qwen2VLProcessorSpec,
} from '../../image/qwen2vl.js';
import type { NamedTensor } from '../../runtime/session.js';
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

/** Image processor classes whose preprocessing is Qwen2VLImageProcessor's (any backend). */
const PROCESSOR_CLASSES = ['Qwen2VLImageProcessor', 'Qwen2VLImageProcessorFast', 'Qwen2VLImageProcessorPil'];

/** What transformers 5 does by default and what is mirrored here (the notice every load shows). */
export const BACKEND_NOTICE =
  'pixels follow the Pillow backend of Qwen2VLImageProcessor (Qwen2VLImageProcessorPil, bit-exact); transformers 5 ' +
  'picks the torchvision backend by default, whose resized pixels differ by 1 level on under 1% of the values ' +
  '(image features within about 0.3% of their largest value)';

/** The image processor settings, checked against vision_config (patch, temporal patch and merge sizes must agree). */
export function qwenVLProcessorSpec(
  processor: Json | null,
  vision: Pick<Qwen2_5VLVisionSpec, 'patchSize' | 'temporalPatchSize' | 'spatialMergeSize' | 'inChannels'>,
  where: string,
  family: string,
): { spec: Qwen2VLProcessorSpec; notices: string[] } {
  const notices: string[] = [];
  let spec: Qwen2VLProcessorSpec;
  if (processor) {
    const cls = processor['image_processor_type'];
    if (cls !== undefined && !PROCESSOR_CLASSES.includes(String(cls))) {
      throw new UnsupportedModelError(
        `${where}: a ${family} model needs Qwen2VLImageProcessor, found ${String(cls)}`,
        { hint: `supported image processors: ${PROCESSOR_CLASSES.join(', ')}` },
      );
    }
    spec = parseQwen2VLProcessorConfig(processor, `${where} (image processor)`);
  } else {
    spec = parseQwen2VLProcessorConfig(
      {
        patch_size: vision.patchSize,
        temporal_patch_size: vision.temporalPatchSize,
        merge_size: vision.spatialMergeSize,
      },
      `${where} (no processor settings)`,
    );
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
  return { spec, notices };
}

/** Every graph input of one image besides pixel_values: the rotary angles (raster) and the window plan. */
export function qwen2_5vlGraphInputs(
  pre: PreprocessResult,
  v: Qwen2_5VLVisionSpec,
): Record<string, NamedTensor> {
  const grid = qwen2vlGrid(pre, v.patchSize);
  const n = grid.t * grid.h * grid.w;
  const w = windowGraphInputs(windowPlan(grid, v), v);
  return {
    [ROTARY_INPUT]: visionRotaryAngles(grid, v.hidden / v.numHeads, v.spatialMergeSize).angles,
    [WINDOW_ORDER_INPUT]: { data: w.patchOrder, shape: [n] },
    [WINDOW_SLOTS_INPUT]: { data: w.slots, shape: [w.slots.length] },
    [WINDOW_KEY_BIAS_INPUT]: { data: w.keyBias, shape: [w.keyBias.length] },
    [WINDOW_ROWS_INPUT]: { data: w.rows, shape: [n] },
    [WINDOW_REVERSE_INPUT]: { data: w.reverse, shape: [w.reverse.length] },
  };
}

export const qwen2_5vl: ArchFamily = {
  modelType: 'qwen2_5_vl',
  label: 'Qwen2.5-VL',
  exampleHubId: 'Qwen/Qwen2.5-VL-3B-Instruct',
  viewsDescription:
    'base: the smart-resized image (sides multiples of 28 px), one token per 2x2 block of 14 px patches, raster order',
  load({ config, preprocessor, index, where }): LoadedFamily {
    const cfg = parseQwen2_5VLConfig(config);
    const v = cfg.vision;
    const { spec: proc, notices } = qwenVLProcessorSpec(preprocessor, v, where, 'qwen2_5_vl');
    const text = resolveTextTensors(index, cfg.text, where, { naming: QWEN2VL_TEXT_NAMING });
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
      notices: [...notices, ...text.notices, `${where}: ${BACKEND_NOTICE}`],
      visionTensorNames: () => qwen2_5vlVisionTensorNames(v, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildQwen2_5VLVisionGraph(v, tensors, { where }),
      tokensPerCrop: -1, // depends on the image: see cropShape
      cropShape: (pre) => {
        const { rows, cols } = merged(pre);
        return [1, rows * cols];
      },
      graphInputs: (pre) => qwen2_5vlGraphInputs(pre, v),
      processor: proc,
      preprocess: (rgb) => qwen2vlPreprocess(rgb, proc),
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
