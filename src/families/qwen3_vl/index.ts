/**
 * Qwen3-VL (`model_type: qwen3_vl`): Qwen2-VL's dynamic resolution (patch 16, merge 2) and 2-D rotary ViT, with a biased
 * patch embedding, a learned position table interpolated corner-aligned to the patch grid, LayerNorm blocks with a
 * gelu_tanh MLP, full attention, the main patch merger, and DeepStack: mergers on intermediate vision blocks whose
 * features the LLM adds to its residual stream at the image positions after its first decoder layers.
 * One view, 'base': the smart-resized image, one token per 2x2 block of patches, raster order (no window permutation);
 * no row or tile markers (<|vision_start|>, the image tokens, <|vision_end|>).
 * What the lens shows: the main merger's output, i.e. what inputs_embeds holds at the image positions. The DeepStack
 * features are computed by the same vision graph as named outputs (`deepstack_features.{k}`, vision.ts) for the deep
 * lens to add; a projector-level lens does not use them.
 * Lens matrices: the released Qwen3-VL checkpoints (2B/4B) tie the output head to embed_tokens (no lm_head tensor),
 * so `logit-raw` equals `dot`; the logit lens is the final RMSNorm then that shared matrix. Larger untied checkpoints
 * (an lm_head tensor) use it.
 * Mirrors transformers 5.12.1: models/qwen3_vl/{configuration,modeling}_qwen3_vl.py, processing_qwen3_vl.py, and the
 * shared Qwen2VLImageProcessor (src/image/qwen2vl.ts, its Pillow backend).
 */
import { IMAGE_BACKENDS } from '../../image/backend.js';
import type { PreprocessResult } from '../../image/processor.js';
import { packFeatures, singleViewLayout } from '../../layout/layout.js';
import { QWEN2 } from '../../text/models.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { qwenVLProcessorSpec } from '../qwen2_5_vl/index.js';
import { QWEN2VL_TEXT_NAMING } from '../qwen2_vl/index.js';
import { QWEN2VL_PROCESSOR, qwen2vlGrid } from '../qwen2_vl/processor.js';
import { ROTARY_INPUT, visionRotaryAngles } from '../qwen2_vl/vision.js';
import { PIXEL_INPUT, type Family, type LoadedFamily, type VisionInputs } from '../types.js';
import { parseQwen3VLConfig, type Qwen3VLVisionSpec } from './config.js';
import { posEmbedPlan } from './posembed.js';
import {
  buildQwen3VLVisionGraph,
  POS_INDEX_INPUT,
  POS_WEIGHT_INPUT,
  qwen3vlVisionTensorNames,
} from './vision.js';
import { qwen3vlLanguage } from './language.js';

/**
 * The vision graph's inputs for one image: pixel_values, the rotary angles and the position-table interpolation
 * (`sampling: 'half_pixel'` only for the pitfall test).
 */
export function qwen3vlVisionInputs(
  pre: PreprocessResult,
  v: Qwen3VLVisionSpec,
  sampling: 'align_corners' | 'half_pixel' = 'align_corners',
): VisionInputs {
  const grid = qwen2vlGrid(pre, v.patchSize);
  const n = grid.t * grid.h * grid.w;
  const side = Math.round(Math.sqrt(v.numPositionEmbeddings));
  const pos = posEmbedPlan(grid, side, v.spatialMergeSize, sampling);
  const feeds = {
    [PIXEL_INPUT]: { data: pre.pixelValues, shape: [...pre.shape] },
    [ROTARY_INPUT]: visionRotaryAngles(grid, v.hidden / v.numHeads, v.spatialMergeSize).angles,
    [POS_INDEX_INPUT]: { data: pos.indices, shape: [4, n] },
    [POS_WEIGHT_INPUT]: { data: pos.weights, shape: [4, n] },
  };
  return { feeds, cropShape: [1, n / v.spatialMergeSize ** 2] };
}

export const qwen3vl: Family = {
  modelType: 'qwen3_vl',
  label: 'Qwen3-VL',
  exampleHubId: 'Qwen/Qwen3-VL-2B-Instruct',
  viewsDescription:
    'base: the smart-resized image (sides multiples of 32 px), one token per 2x2 block of 16 px patches, raster order (the main merger; DeepStack features are not shown)',
  processors: [QWEN2VL_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load(args): LoadedFamily {
    const { config, index, where } = args;
    const cfg = parseQwen3VLConfig(config);
    const v = cfg.vision;
    const { spec: proc, notices } = qwenVLProcessorSpec(args, v, 'qwen3_vl', qwen3vl.imageBackends!.default);
    // qwen3_vl_text: Qwen3's RMSNorm (w · x / rms) and unscaled embeddings, as Qwen2's for the lens.
    const text = resolveTextTensors(index, cfg.text, where, { naming: QWEN2VL_TEXT_NAMING, model: QWEN2 });
    const m = v.spatialMergeSize;
    const D = cfg.text.hiddenSize;
    const merged = (pre: PreprocessResult) => {
      const grid = qwen2vlGrid(pre, v.patchSize);
      return { rows: grid.h / m, cols: grid.w / m };
    };
    return {
      modelType: 'qwen3_vl',
      views: ['base'],
      text: text.spec,
      language: qwen3vlLanguage(v.deepstackIndexes.length, cfg.text.numHiddenLayers, where),
      notices: [...notices, ...text.notices],
      processor: proc,
      imageBackend: proc.backend,
      visionTensorNames: () => qwen3vlVisionTensorNames(v, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildQwen3VLVisionGraph(v, tensors, { where }),
      visionInputs: (pre) => qwen3vlVisionInputs(pre, v),
      // The merger's rows are the merged grid in raster order (pixel_values rows are block-major), as for Qwen2-VL.
      layout: (pre) => singleViewLayout(pre.geometry, merged(pre)),
      pack: (cropFeatures, pre, layout) => {
        const { rows, cols } = merged(pre);
        return packFeatures(cropFeatures, [1, rows * cols, D], layout, null);
      },
    };
  },
};
