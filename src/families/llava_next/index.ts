/**
 * LLaVA-NeXT / v1.6 (`model_type: llava_next`, "anyres"): the LLaVA vision path run on a square-resized base
 * view plus a grid of high-resolution crops chosen from `image_grid_pinpoints`; the grid features are un-padded
 * to the image's aspect ratio and one `image_newline` vector follows every row; base tokens come first.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/llava_next/modeling_llava_next.py
 * (pack_image_features, unpad_image) and image_processing_llava_next.py.
 */
import { CheckpointError } from '../../errors.js';
import { chooseBackend, IMAGE_BACKENDS } from '../../image/backend.js';
import type { AnyresProcessorSpec } from '../../image/anyres.js';
import { anyresLayout, packFeatures } from '../../layout/layout.js';
import { resolveTextTensors } from '../../text/tensors.js';
import {
  checkCropSize,
  imageNewlineTensor,
  LLAVA_TEXT_NAMING,
  patchGrid,
  processorFor,
  visionSpec,
} from '../llava/index.js';
import { buildLlavaVisionGraph, llavaVisionTensorNames } from '../llava/vision.js';
import { pixelInputs, type Family, type LoadedFamily } from '../types.js';
import { parseLlavaNextConfig } from './config.js';
import { LLAVA_NEXT_PROCESSOR } from './processor.js';
import { LLAVA_NEXT_LANGUAGE } from './language.js';

export const llavaNext: Family = {
  modelType: 'llava_next',
  label: 'LLaVA-NeXT (v1.6)',
  exampleHubId: 'llava-hf/llava-v1.6-vicuna-7b-hf',
  viewsDescription:
    'base: the whole image squashed to a square (24x24 at 336 px); grid: the high-resolution crops, un-padded, with a newline token after each row',
  processors: [LLAVA_NEXT_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load({ config, preprocessor, imageBackend, index, where }): LoadedFamily {
    const cfg = parseLlavaNextConfig(config);
    const { spec: parsed, notices } = processorFor<AnyresProcessorSpec>(
      preprocessor,
      cfg,
      where,
      llavaNext.processors,
      'LlavaNextImageProcessor',
      'llava_next',
      { image_grid_pinpoints: cfg.gridPinpoints },
    );
    const chosen = chooseBackend(parsed, imageBackend, llavaNext.imageBackends!.default, where);
    const proc = chosen.spec;
    notices.push(chosen.notice);
    checkCropSize(proc, cfg, where);
    const text = resolveTextTensors(index, cfg.text, where, {
      naming: LLAVA_TEXT_NAMING,
      declaredTie: cfg.topLevelTie ?? cfg.text.tieWordEmbeddings,
    });
    const newlineName = imageNewlineTensor(index, cfg.text.hiddenSize, where, 'llava_next');
    if (cfg.strategy === 'full') {
      throw new CheckpointError(
        `${where}: vision_feature_select_strategy "full" with anyres packing is not supported`,
        {
          hint: 'transformers 4.45 fails on it too (the CLS token breaks the square feature grid)',
        },
      );
    }
    const vspec = visionSpec(cfg);
    const grid = patchGrid(cfg);
    const perCrop = grid.rows * grid.cols;
    return {
      modelType: 'llava_next',
      views: ['base', 'grid'],
      text: text.spec,
      language: LLAVA_NEXT_LANGUAGE,
      notices: [...notices, ...text.notices],
      visionTensorNames: () => llavaVisionTensorNames(vspec, index, where),
      extraTensorNames: () => [newlineName],
      buildVisionGraph: (tensors) => buildLlavaVisionGraph(vspec, tensors, { where }).model,
      processor: proc,
      imageBackend: proc.backend,
      visionInputs: (pre) => pixelInputs(pre, perCrop),
      layout: (pre) => anyresLayout(pre.geometry, grid, { newline: true }),
      pack: (cropFeatures, pre, layout, extra) =>
        packFeatures(cropFeatures, [pre.shape[0], perCrop, cfg.text.hiddenSize], layout, {
          newline: extra.get(newlineName),
        }),
    };
  },
};
