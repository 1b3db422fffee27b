/**
 * LLaVA-OneVision (`model_type: llava_onevision`): a SigLIP tower read at hidden_states[-1] (no post_layernorm), all
 * tokens kept ('full'), the LLaVA projector, and anyres over a pinpoint grid of square crops: the base view (the whole
 * image squashed to a square, no newline after it), then the grid crops' feature map un-padded to the image's aspect
 * ratio, bilinearly down-sampled when larger than about N crops (`anyres_max_N`), with one newline token per row.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/llava_onevision/configuration_llava_onevision.py
 * (defaults), modeling_llava_onevision.py (get_image_features via hidden_states[vision_feature_layer], pack_image_features)
 * and image_processing_llava_onevision.py (./processor.ts).
 */
import { chooseBackend, IMAGE_BACKENDS } from '../../image/backend.js';
import type { Json } from '../../config/reader.js';
import type { AnyresProcessorSpec } from '../../image/anyres.js';
import { parseWith } from '../../image/processor.js';
import { anyresLayout, type LayoutOptions } from '../../layout/layout.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { UnsupportedModelError } from '../../errors.js';
import {
  checkCropSize,
  imageNewlineTensor,
  LLAVA_TEXT_NAMING,
  patchGrid,
  visionSpec,
} from '../llava/index.js';
import { buildLlavaVisionGraph, llavaVisionTensorNames } from '../llava/vision.js';
import { pixelInputs, type Family, type LoadedFamily } from '../types.js';
import { parseLlavaOnevisionConfig } from './config.js';
import { packOnevision } from './pack.js';
import { ONEVISION_PROCESSOR } from './processor.js';
import { LLAVA_ONEVISION_LANGUAGE } from './language.js';

export const llavaOnevision: Family = {
  modelType: 'llava_onevision',
  label: 'LLaVA-OneVision',
  exampleHubId: 'llava-hf/llava-onevision-qwen2-0.5b-ov-hf',
  viewsDescription:
    'base: the whole image squashed to a square (27x27 at 384 px), no newline; grid: the square crops of the pinpoint grid, un-padded, bilinearly down-sampled to about 9 crops (anyres_max_9), a newline token after each row',
  processors: [ONEVISION_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load({ config, preprocessor, imageBackend, index, where }): LoadedFamily {
    const cfg = parseLlavaOnevisionConfig(config);
    const notices: string[] = [];
    const s = cfg.vision.imageSize;
    const raw: Json = preprocessor ?? {
      size: { height: s, width: s },
      image_grid_pinpoints: cfg.gridPinpoints,
    };
    if (!preprocessor)
      notices.push(
        `${where}: no preprocessor_config.json; using LlavaOnevisionImageProcessor defaults at ${s}px`,
      );
    const parsed = parseWith(
      raw,
      `${where}/preprocessor_config.json`,
      llavaOnevision.processors,
      ONEVISION_PROCESSOR.type,
      'a llava_onevision model',
    ) as AnyresProcessorSpec;
    const chosen = chooseBackend(parsed, imageBackend, llavaOnevision.imageBackends!.default, where);
    const proc = chosen.spec;
    notices.push(chosen.notice);
    checkCropSize(proc, cfg, where);
    if (cfg.vision.modelType !== 'siglip_vision_model' || cfg.strategy !== 'full') {
      throw new UnsupportedModelError(
        `${where}/config.json: llava_onevision with a ${cfg.vision.modelType} tower and strategy "${cfg.strategy}" is not supported`,
        { hint: 'LLaVA-OneVision checkpoints use a SigLIP tower with vision_feature_select_strategy "full"' },
      );
    }
    const text = resolveTextTensors(index, cfg.text, where, {
      naming: LLAVA_TEXT_NAMING,
      declaredTie: cfg.topLevelTie ?? cfg.text.tieWordEmbeddings,
    });
    const newlineName = imageNewlineTensor(index, cfg.text.hiddenSize, where, 'llava_onevision');
    const vspec = visionSpec(cfg);
    const grid = patchGrid(cfg);
    const perCrop = grid.rows * grid.cols;
    const opts: LayoutOptions = { newline: true, anyresMax: cfg.anyresMax };
    return {
      modelType: 'llava_onevision',
      views: ['base', 'grid'],
      text: text.spec,
      language: LLAVA_ONEVISION_LANGUAGE,
      notices: [...notices, ...text.notices],
      visionTensorNames: () => llavaVisionTensorNames(vspec, index, where),
      extraTensorNames: () => [newlineName],
      buildVisionGraph: (tensors) => buildLlavaVisionGraph(vspec, tensors, { where }).model,
      processor: proc,
      imageBackend: proc.backend,
      visionInputs: (pre) => pixelInputs(pre, perCrop),
      layout: (pre) => anyresLayout(pre.geometry, grid, opts),
      pack: (cropFeatures, pre, layout, extra) =>
        packOnevision(cropFeatures, pre, layout, grid, cfg.text.hiddenSize, extra.get(newlineName)!, opts),
    };
  },
};
