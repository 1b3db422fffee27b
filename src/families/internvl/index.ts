/**
 * InternVL (`model_type: internvl`: the transformers-native InternVL2.5 / InternVL3 "-hf" checkpoints, e.g.
 * OpenGVLab/InternVL3-1B-hf). The image is cut into T x T tiles on the grid that best matches its aspect ratio
 * (GotOcr2ImageProcessor with crop_to_patches forced by InternVLProcessor), plus a thumbnail past one tile; each tile
 * goes through InternViT (CLS + patches, LayerScale layers), the CLS is dropped, a pixel shuffle folds s x s patches
 * into one token and the LayerNorm + MLP projector maps it to the LLM (Qwen2 or Llama), which receives the rows
 * unscaled between `<img>` and `</img>`.
 * Mirrors transformers 5.12.1 models/internvl (configuration_, processing_, modeling_internvl.py) and
 * models/got_ocr2/image_processing_got_ocr2.py.
 * Lens matrices: cosine / dot / l2 compare with `language_model.model.embed_tokens` (the space the features are
 * written into: inputs_embeds, no embedding scale in Qwen2 / Llama); the logit lens uses the final RMSNorm (plain
 * w · x̂) then `lm_head`, which IS embed_tokens for the tied checkpoints (tie_word_embeddings defaults to true here).
 */
import { backendNotice, IMAGE_BACKENDS } from '../../image/backend.js';
import { imageProcessorSettings } from '../../config/processor-config.js';
import type { Json } from '../../config/reader.js';
import { CheckpointError } from '../../errors.js';
import { TensorNaming } from '../../graph/weights.js';
import type { PreprocessResult } from '../../image/processor.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { PIXEL_INPUT, type Family, type LoadedFamily } from '../types.js';
import { parseInternVLConfig, type InternVLConfig } from './config.js';
import { internvlLayout, internvlPack } from './layout.js';
import {
  GOT_OCR2_DEFAULTS,
  GOT_OCR2_PROCESSOR,
  parseGotOcr2ProcessorConfig,
  type GotOcr2ProcessorSpec,
} from './processor.js';
import { buildInternVLVisionGraph, internvlVisionTensorNames } from './vision.js';
import { INTERNVL_LANGUAGE } from './language.js';

/**
 * Text naming: 5.12.1 saves the legacy `language_model.model.*` / `language_model.lm_head.weight` (absent when tied);
 * the in-memory names are `model.language_model.*` / `lm_head.weight`.
 */
export const INTERNVL_TEXT_NAMING = new TensorNaming({
  'language_model.model.': ['language_model.model.', 'model.language_model.'],
  'language_model.lm_head.': ['language_model.lm_head.', 'lm_head.'],
});

/** The processor settings (or GotOcr2ImageProcessor's defaults at the tower's size), checked against the tower. */
export function internvlProcessorSpec(
  preprocessor: Json | null,
  processorConfig: Json | null,
  cfg: InternVLConfig,
  backend: 'pil' | 'torchvision',
  where: string,
): { spec: GotOcr2ProcessorSpec; notices: string[] } {
  const notices: string[] = [];
  const T = cfg.vision.imageSize;
  const found = imageProcessorSettings(preprocessor, processorConfig, where);
  let spec: GotOcr2ProcessorSpec;
  if (found.found) {
    spec = parseGotOcr2ProcessorConfig(found.settings, found.where, backend);
  } else {
    spec = parseGotOcr2ProcessorConfig({ size: { height: T, width: T } }, found.where, backend);
    notices.push(
      `${where}: no image processor settings; using GotOcr2ImageProcessor defaults at ${T}px tiles (max ${GOT_OCR2_DEFAULTS.maxPatches} tiles)`,
    );
  }
  if (spec.tile !== T) {
    throw new CheckpointError(
      `${found.where}: size ${spec.tile}x${spec.tile} differs from vision_config.image_size ${T}`,
      {
        hint: 'the tiles must be the vision tower input size (position-embedding interpolation is not supported)',
      },
    );
  }
  const Tok = cfg.tokenGrid * cfg.tokenGrid;
  const seq = found.processor['image_seq_length'];
  if (typeof seq === 'number' && seq !== Tok) {
    throw new CheckpointError(
      `${where}/processor_config.json: image_seq_length ${seq} differs from ((${T}/${cfg.vision.patchSize}) * ${cfg.downsampleRatio})^2 = ${Tok}`,
      {
        hint: 'the processor would insert a different number of <IMG_CONTEXT> tokens than the model produces',
      },
    );
  }
  return { spec, notices };
}

/** Grid rows / cols of a preprocessed image (1 x 1 when its only tile is the whole image). */
function gridOf(pre: PreprocessResult): { rows: number; cols: number } {
  let rows = 1;
  let cols = 1;
  for (const c of pre.geometry.crops) {
    if (c.view === 'grid') {
      rows = Math.max(rows, c.gridRow + 1);
      cols = Math.max(cols, c.gridCol + 1);
    }
  }
  return { rows, cols };
}

export const internvl: Family = {
  modelType: 'internvl',
  label: 'InternVL',
  exampleHubId: 'OpenGVLab/InternVL3-1B-hf',
  viewsDescription:
    'grid: the T x T tiles of the canvas (the image resized to the best-matching cols x rows grid), t x t tokens each after the pixel shuffle, no separators; base: the thumbnail (the whole image squashed to one tile, past one tile), or the only tile of a 1 x 1 grid',
  processors: [GOT_OCR2_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load({ config, preprocessor, processorConfig, imageBackend, index, where }): LoadedFamily {
    const cfg = parseInternVLConfig(config);
    const dflt = 'torchvision'; // what transformers 5's AutoProcessor picks
    const backend = imageBackend ?? dflt;
    const { spec, notices } = internvlProcessorSpec(
      preprocessor,
      processorConfig ?? null,
      cfg,
      backend,
      where,
    );
    const text = resolveTextTensors(index, cfg.text, where, {
      naming: INTERNVL_TEXT_NAMING,
      declaredTie: cfg.tie,
    });
    const T = cfg.vision.imageSize;
    const t = cfg.tokenGrid;
    const perTile = t * t;
    const H = cfg.text.hiddenSize;
    return {
      modelType: 'internvl',
      views: spec.maxPatches > 1 ? ['grid', 'base'] : ['base'],
      processor: spec,
      imageBackend: backend,
      text: text.spec,
      language: INTERNVL_LANGUAGE,
      notices: [
        ...notices,
        ...text.notices,
        `${where}: ${backendNotice(backend, spec.processorClass, dflt)}`,
      ],
      visionTensorNames: () => internvlVisionTensorNames(cfg, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildInternVLVisionGraph(cfg, tensors, where),
      visionInputs: (pre) => ({
        feeds: { [PIXEL_INPUT]: { data: pre.pixelValues, shape: [...pre.shape] } }, // [n, 3, T, T]
        cropShape: [pre.shape[0], perTile],
        cropAxis: 0,
      }),
      processorShape: (pre) => [...pre.shape], // InternVLProcessor: [n_tiles, 3, T, T], tiles of all images concatenated
      layout: (pre) => internvlLayout(pre.geometry.image, gridOf(pre), { tileSize: T, tokenGrid: t }),
      pack: (cropFeatures, pre, layout) => internvlPack(cropFeatures, pre.shape[0], perTile, H, layout),
    };
  },
};
