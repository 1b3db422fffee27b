/**
 * Gemma 3 (`model_type: gemma3`): every view (the image squashed to S x S, plus pan-and-scan crops when asked for)
 * goes through a SigLIP tower with post_layernorm; Gemma3MultiModalProjector average-pools the patch grid to
 * mm_tokens_per_image tokens, applies mm_soft_emb_norm ((1 + w) RMSNorm) and multiplies by
 * mm_input_projection_weight; the rows are scattered unscaled into inputs_embeds between <start_of_image> and
 * <end_of_image>. Mirrors transformers 5.12.1 models/gemma3 (configuration_, image_processing_, processing_,
 * modeling_gemma3.py).
 * Lens matrices (fixtures-modern README-gemma.md "Lens matrix"): the image rows live in the space of the TEXT rows
 * of inputs_embeds, embed_tokens · float32(sqrt(H)) (Gemma3TextScaledWordEmbedding scales inside the embedding), so
 * cosine / dot / l2 / omp compare with embed_tokens · sqrt(H) (TextSpec.embedScale; l2 against the raw matrix
 * would mix spaces and changes every row's top-10); the logit lens is final_norm ((1 + w)) then the tied, UNscaled
 * embed_tokens, exactly the deep lens's layer 0. Every embedding row is searched, rows without a token included.
 */
import { backendNotice, IMAGE_BACKENDS } from '../../image/backend.js';
import type { ImageBackend } from '../../api.js';
import { imageProcessorSettings } from '../../config/processor-config.js';
import type { Json } from '../../config/reader.js';
import { CheckpointError } from '../../errors.js';
import { TensorNaming } from '../../graph/weights.js';
import { packFeatures } from '../../layout/layout.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { pixelInputs, type Family, type LoadedFamily } from '../types.js';
import { parseGemma3Config, type Gemma3Config } from './config.js';
import { GEMMA3_LANGUAGE } from './language.js';
import { gemma3Layout } from './layout.js';
import {
  GEMMA3_PROCESSOR,
  parseGemma3ProcessorConfig,
  type Gemma3Preprocess,
  type Gemma3ProcessorSpec,
} from './processor.js';
import { buildGemma3VisionGraph, gemma3VisionTensorNames } from './vision.js';

/** Text naming: 5.12.1 `language_model.model.*` (no lm_head: tied); 4.52-4.57 saves `model.language_model.*`. */
export const GEMMA3_TEXT_NAMING = new TensorNaming({
  'language_model.model.': ['language_model.model.', 'model.language_model.'],
  'language_model.lm_head.': ['language_model.lm_head.', 'lm_head.'],
});

export function gemma3ProcessorSpec(
  preprocessor: Json | null,
  processorConfig: Json | null,
  cfg: Gemma3Config,
  backend: ImageBackend,
  where: string,
): { spec: Gemma3ProcessorSpec; notices: string[] } {
  const notices: string[] = [];
  const S = cfg.vision.imageSize;
  const found = imageProcessorSettings(preprocessor, processorConfig, where);
  const spec = found.found
    ? parseGemma3ProcessorConfig(found.settings, found.where, backend)
    : parseGemma3ProcessorConfig({ size: { height: S, width: S } }, found.where, backend);
  if (!found.found)
    notices.push(`${where}: no image processor settings; using Gemma3ImageProcessor defaults at ${S}px`);
  if (spec.size.height !== S || spec.size.width !== S || !spec.doResize) {
    throw new CheckpointError(
      `${found.where}: the processor gives ${spec.size.width}x${spec.size.height} views (do_resize ${spec.doResize}), vision_config.image_size is ${S}`,
      { hint: 'the SigLIP tower takes image_size x image_size views; fix the image processor settings' },
    );
  }
  if (spec.configPanAndScan) {
    notices.push(
      `${found.where}: do_pan_and_scan is ignored, as Gemma3Processor (transformers 5.12.1) passes its own do_pan_and_scan=False; one view per image`,
    );
  }
  const seq = found.processor['image_seq_length'];
  if (typeof seq === 'number' && seq !== cfg.mmTokensPerImage) {
    throw new CheckpointError(
      `${where}/processor_config.json: image_seq_length ${seq} differs from mm_tokens_per_image ${cfg.mmTokensPerImage}`,
      { hint: 'the processor would insert a different number of image tokens than the projector produces' },
    );
  }
  return { spec, notices };
}

export const gemma3: Family = {
  modelType: 'gemma3',
  label: 'Gemma 3',
  exampleHubId: 'google/gemma-3-4b-it',
  viewsDescription:
    'base: the whole image squashed to a square (896 px), the 64x64 patch grid average-pooled to 16x16 tokens between <start_of_image> and <end_of_image>',
  processors: [GEMMA3_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load({ config, preprocessor, processorConfig, imageBackend, index, where }): LoadedFamily {
    const cfg = parseGemma3Config(config);
    const dflt = 'torchvision'; // what transformers 5's AutoProcessor picks
    const backend = imageBackend ?? dflt;
    const { spec, notices } = gemma3ProcessorSpec(preprocessor, processorConfig ?? null, cfg, backend, where);
    const text = resolveTextTensors(index, cfg.text, where, {
      naming: GEMMA3_TEXT_NAMING,
      declaredTie: cfg.tie,
    });
    const T = cfg.mmTokensPerImage;
    const H = cfg.text.hiddenSize;
    return {
      modelType: 'gemma3',
      views: spec.panAndScan ? ['base', 'grid'] : ['base'],
      processor: spec,
      imageBackend: backend,
      text: text.spec,
      language: GEMMA3_LANGUAGE,
      notices: [
        ...notices,
        ...text.notices,
        `${where}: ${backendNotice(backend, spec.processorClass, dflt)}`,
      ],
      visionTensorNames: () => gemma3VisionTensorNames(cfg, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildGemma3VisionGraph(cfg, tensors, where),
      visionInputs: (pre) => pixelInputs(pre, T),
      layout: (pre) => gemma3Layout(pre as Gemma3Preprocess, cfg.tokenGrid),
      pack: (cropFeatures, pre, layout) => packFeatures(cropFeatures, [pre.shape[0], T, H], layout, null),
    };
  },
};
