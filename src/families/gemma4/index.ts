/**
 * Gemma 4 (`model_type: gemma4`), image path: the image resized (aspect kept) to whole k·p blocks within a patch
 * budget, patchified channel-last; the Gemma 4 vision tower (2-D rope, clipped linears, plain-w RMSNorms, attention
 * scale 1) pools k x k patches per token; embed_vision normalises (no weight) and projects to the text width; the rows
 * are scattered unscaled into inputs_embeds between <|image> and <image|>. Mirrors transformers 5.12.1 models/gemma4
 * (configuration_, image_processing_, processing_, modeling_gemma4.py). Audio, video and the MoE block are not read.
 * Lens matrices (fixtures-modern README-gemma.md): as Gemma 3, the image rows live beside embed_tokens · float32(sqrt(H))
 * (Gemma4TextScaledWordEmbedding), so cosine / dot / l2 / omp use embed_tokens · sqrt(H) (TextSpec.embedScale); the
 * logit lens is final_norm (Gemma4RMSNorm: plain w) then the tied, unscaled embed_tokens. Gemma 4 softcaps its logits
 * (tanh(x / 30) · 30): the ranking is the same, so the lens reports the raw logits (docs/families.md).
 */
import { backendNotice, IMAGE_BACKENDS } from '../../image/backend.js';
import type { ImageBackend } from '../../api.js';
import { imageProcessorSettings } from '../../config/processor-config.js';
import type { Json } from '../../config/reader.js';
import { CheckpointError } from '../../errors.js';
import { TensorNaming } from '../../graph/weights.js';
import { packFeatures } from '../../layout/layout.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { PIXEL_INPUT, type Family, type LoadedFamily } from '../types.js';
import { parseGemma4Config, type Gemma4Config } from './config.js';
import { GEMMA4_LANGUAGE } from './language.js';
import { gemma4Layout } from './layout.js';
import {
  GEMMA4_PROCESSOR,
  parseGemma4ProcessorConfig,
  type Gemma4Preprocess,
  type Gemma4ProcessorSpec,
} from './processor.js';
import {
  buildGemma4VisionGraph,
  gemma4VisionTensorNames,
  POOL_GRID_INPUT,
  POSITION_INPUT,
} from './vision.js';

/** Text naming: `model.language_model.*` (5.12.1 and the google/gemma-4-* repos), `lm_head.*` when untied. */
export const GEMMA4_TEXT_NAMING = new TensorNaming({
  'language_model.model.': ['model.language_model.', 'language_model.model.'],
  'language_model.lm_head.': ['lm_head.', 'language_model.lm_head.'],
});

export function gemma4ProcessorSpec(
  preprocessor: Json | null,
  processorConfig: Json | null,
  cfg: Gemma4Config,
  backend: ImageBackend,
  where: string,
): { spec: Gemma4ProcessorSpec; notices: string[] } {
  const notices: string[] = [];
  const found = imageProcessorSettings(preprocessor, processorConfig, where);
  const v = cfg.vision;
  const spec = found.found
    ? parseGemma4ProcessorConfig(found.settings, found.where, backend)
    : parseGemma4ProcessorConfig(
        { patch_size: v.patchSize, pooling_kernel_size: v.poolingKernelSize },
        found.where,
        backend,
      );
  if (!found.found)
    notices.push(`${where}: no image processor settings; using Gemma4ImageProcessor defaults`);
  if (spec.patchSize !== v.patchSize || spec.poolingKernelSize !== v.poolingKernelSize) {
    throw new CheckpointError(
      `${found.where}: patch_size ${spec.patchSize} / pooling_kernel_size ${spec.poolingKernelSize} differ from vision_config's ${v.patchSize} / ${v.poolingKernelSize}`,
      { hint: 'the processor must patchify and pool as the vision tower does; fix processor_config.json' },
    );
  }
  return { spec, notices };
}

export const gemma4: Family = {
  modelType: 'gemma4',
  label: 'Gemma 4',
  exampleHubId: 'google/gemma-4-e2b-it',
  viewsDescription:
    'base: the image resized with its aspect kept to whole 3x3-patch blocks within max_soft_tokens (280 at 16 px patches), one token per 3x3 block, between <|image> and <image|>',
  processors: [GEMMA4_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load({ config, preprocessor, processorConfig, imageBackend, index, where }): LoadedFamily {
    const cfg = parseGemma4Config(config);
    const dflt = 'torchvision'; // what transformers 5's AutoProcessor picks
    const backend = imageBackend ?? dflt;
    const { spec, notices } = gemma4ProcessorSpec(preprocessor, processorConfig ?? null, cfg, backend, where);
    const text = resolveTextTensors(index, cfg.text, where, {
      naming: GEMMA4_TEXT_NAMING,
      declaredTie: cfg.tie,
    });
    const H = cfg.text.hiddenSize;
    const Hv = cfg.vision.hiddenSize;
    return {
      modelType: 'gemma4',
      views: ['base'],
      processor: spec,
      imageBackend: backend,
      text: text.spec,
      language: GEMMA4_LANGUAGE,
      notices: [
        ...notices,
        ...text.notices,
        `${where}: ${backendNotice(backend, spec.processorClass, dflt)}`,
      ],
      visionTensorNames: () => gemma4VisionTensorNames(cfg, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildGemma4VisionGraph(cfg, tensors, where),
      visionInputs: (p) => {
        const pre = p as Gemma4Preprocess;
        const { realPatches: n, patchRows, patchCols, kernel: k, positionIds } = pre.gemma4;
        const dim = pre.shape[2];
        return {
          feeds: {
            // only the real patches: HF masks the padding keys, so they never reach a real row
            [PIXEL_INPUT]: { data: pre.pixelValues.subarray(0, n * dim), shape: [n, dim] },
            [POSITION_INPUT]: {
              data: BigInt64Array.from(positionIds.subarray(0, n * 2), BigInt),
              shape: [n, 2],
            },
            [POOL_GRID_INPUT]: {
              data: BigInt64Array.from([patchRows / k, k, patchCols / k, k, Hv], BigInt),
              shape: [5],
            },
          },
          cropShape: [1, n / (k * k)],
        };
      },
      layout: (p) => gemma4Layout(p as Gemma4Preprocess, cfg.vision.patchSize),
      pack: (cropFeatures, p, layout) =>
        packFeatures(cropFeatures, [1, layout.tokens.length, H], layout, null),
    };
  },
};
