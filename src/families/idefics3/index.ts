/**
 * Idefics3 (`model_type: idefics3`), and the factory SmolVLM (`smolvlm`, src/families/smolvlm) reuses: the image is
 * resized to a longest edge, rounded up to whole M x M tiles, cut into tiles plus a global image resized from that
 * canvas; each tile goes through a SigLIP-style tower with post_layernorm, a pixel shuffle (s x s patches -> one token)
 * and a bias-free linear connector; the LLM (Llama) receives the rows unscaled, between the prompt's tile markers.
 * Mirrors transformers 5.12.1 models/idefics3 (configuration_, image_processing_, processing_, modeling_idefics3.py).
 * Lens matrices: cosine / dot / l2 compare with `model.text_model.embed_tokens` (the space the features are written
 * into: inputs_embeds, no scaling anywhere); the logit lens uses `lm_head` after the final RMSNorm (plain w * x̂),
 * which IS embed_tokens when tie_word_embeddings is true (SmolVLM checkpoints: no lm_head tensor).
 */
import type { ImageBackend } from '../../api.js';
import { backendNotice, IMAGE_BACKENDS } from '../../image/backend.js';
import { imageProcessorSettings } from '../../config/processor-config.js';
import type { Json } from '../../config/reader.js';
import { CheckpointError } from '../../errors.js';
import { TensorNaming } from '../../graph/weights.js';
import type { PreprocessResult } from '../../image/processor.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { PIXEL_INPUT, type Family, type LoadedFamily } from '../types.js';
import { parseIdefics3Config, type Idefics3Config } from './config.js';
import { idefics3Layout, idefics3Pack } from './layout.js';
import {
  IDEFICS3_PROCESSOR,
  parseIdefics3ProcessorConfig,
  SMOLVLM_PROCESSOR,
  type Idefics3ProcessorSpec,
  type Idefics3ProcessorType,
} from './processor.js';
import { buildIdefics3VisionGraph, idefics3VisionTensorNames } from './vision.js';
import { IDEFICS3_LANGUAGE } from './language.js';

/** Text naming: `model.text_model.*` and `lm_head.weight` (absent when tied). */
export const IDEFICS3_TEXT_NAMING = new TensorNaming({
  'language_model.model.': ['model.text_model.'],
  'language_model.lm_head.': ['lm_head.'],
});

export interface Idefics3FamilyInfo {
  modelType: string;
  label: string;
  exampleHubId: string;
  processorClass: Idefics3ProcessorType;
  visionModelType: string;
}

/** The processor settings (or the class defaults at the tower's size), checked against the tower. */
export function idefics3ProcessorSpec(
  preprocessor: Json | null,
  processorConfig: Json | null,
  cfg: Idefics3Config,
  info: Idefics3FamilyInfo,
  backend: ImageBackend,
  where: string,
): { spec: Idefics3ProcessorSpec; notices: string[] } {
  const notices: string[] = [];
  const M = cfg.vision.imageSize;
  let spec: Idefics3ProcessorSpec;
  const found = imageProcessorSettings(preprocessor, processorConfig, where);
  if (found.found) {
    spec = parseIdefics3ProcessorConfig(found.settings, found.where, info.processorClass, backend);
  } else {
    spec = parseIdefics3ProcessorConfig(
      { max_image_size: { longest_edge: M }, size: { longest_edge: 4 * M } },
      `${where} (no image processor settings)`,
      info.processorClass,
      backend,
    );
    notices.push(`${where}: no processor settings; using ${info.processorClass} defaults at ${M}px tiles`);
  }
  if (spec.maxImageSize !== M) {
    throw new CheckpointError(
      `${where}: max_image_size.longest_edge ${spec.maxImageSize} differs from vision_config.image_size ${M}`,
      { hint: 'the tiles must be the vision tower input size; fix processor_config.json' },
    );
  }
  const T = cfg.tokenGrid * cfg.tokenGrid;
  const seq = processorConfig?.['image_seq_len'];
  if (typeof seq === 'number' && seq !== T) {
    throw new CheckpointError(
      `${where}/processor_config.json: image_seq_len ${seq} differs from ((${M}/${cfg.vision.patchSize})/${cfg.scaleFactor})^2 = ${T}`,
      { hint: 'the processor would insert a different number of <image> tokens than the model produces' },
    );
  }
  return { spec, notices };
}

/** Grid rows / cols of a preprocessed image (grid tiles carry their place; the last tile is the global one). */
function gridOf(pre: PreprocessResult): { rows: number; cols: number } {
  let rows = 0;
  let cols = 0;
  for (const c of pre.geometry.crops) {
    if (c.view === 'grid') {
      rows = Math.max(rows, c.gridRow + 1);
      cols = Math.max(cols, c.gridCol + 1);
    }
  }
  return { rows, cols };
}

export function makeIdefics3Family(info: Idefics3FamilyInfo): Family {
  return {
    modelType: info.modelType,
    label: info.label,
    exampleHubId: info.exampleHubId,
    viewsDescription:
      'grid: the M x M tiles of the canvas (longest edge resized, rounded up to whole tiles), t x t tokens each after the pixel shuffle, with <row_r_col_c> markers; base: the global image (the canvas squashed to one tile), or the only tile of an unsplit image',
    processors: [info.processorClass === 'SmolVLMImageProcessor' ? SMOLVLM_PROCESSOR : IDEFICS3_PROCESSOR],
    imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
    load({ config, preprocessor, processorConfig, imageBackend, index, where }): LoadedFamily {
      const cfg = parseIdefics3Config(config, info.visionModelType);
      const dflt = 'torchvision'; // what transformers 5's AutoProcessor picks
      const backend = imageBackend ?? dflt;
      const { spec, notices } = idefics3ProcessorSpec(
        preprocessor,
        processorConfig ?? null,
        cfg,
        info,
        backend,
        where,
      );
      const text = resolveTextTensors(index, cfg.text, where, {
        naming: IDEFICS3_TEXT_NAMING,
        declaredTie: cfg.tie,
      });
      const M = cfg.vision.imageSize;
      const t = cfg.tokenGrid;
      const T = t * t;
      const H = cfg.text.hiddenSize;
      return {
        modelType: info.modelType,
        views: spec.doImageSplitting ? ['grid', 'base'] : ['base'],
        processor: spec,
        imageBackend: backend,
        text: text.spec,
        language: IDEFICS3_LANGUAGE,
        notices: [
          ...notices,
          ...text.notices,
          `${where}: ${backendNotice(backend, spec.processorClass, dflt)}`,
        ],
        visionTensorNames: () => idefics3VisionTensorNames(cfg, index, where),
        extraTensorNames: () => [],
        buildVisionGraph: (tensors) => buildIdefics3VisionGraph(cfg, tensors, where),
        visionInputs: (pre) => ({
          feeds: { [PIXEL_INPUT]: { data: pre.pixelValues, shape: [...pre.shape] } }, // [1, tiles, 3, M, M]
          cropShape: [pre.shape[1], T],
          cropAxis: 1,
        }),
        layout: (pre) => {
          const { rows, cols } = gridOf(pre);
          return idefics3Layout(
            pre.geometry.image,
            { rows, cols, canvas: { height: rows * M, width: cols * M } },
            { tileSize: M, tokenGrid: t },
          );
        },
        pack: (cropFeatures, pre, layout) => idefics3Pack(cropFeatures, pre.shape[1], T, H, layout),
      };
    },
  };
}

export const idefics3 = makeIdefics3Family({
  modelType: 'idefics3',
  label: 'Idefics3',
  exampleHubId: 'HuggingFaceM4/Idefics3-8B-Llama3',
  processorClass: 'Idefics3ImageProcessor',
  visionModelType: 'idefics3_vision',
});
