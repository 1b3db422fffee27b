/**
 * LLaVA-1.5 (`model_type: llava`): a CLIP vision tower read up to `vision_feature_layer`, CLS dropped
 * ('default') or kept ('full'), the 2-layer GELU projector, one center-cropped view of the image.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/llava/modeling_llava.py and
 * CLIPImageProcessor (models/clip/image_processing_clip.py).
 */
import { chooseBackend, IMAGE_BACKENDS } from '../../image/backend.js';
import type { Json } from '../../config/reader.js';
import { CheckpointError, MissingTensorError, UnsupportedModelError } from '../../errors.js';
import { CLIP_PROCESSOR, type ClipProcessorSpec } from '../../image/clip.js';
import { parseWith, type ProcessorDef } from '../../image/processor.js';
import { SIGLIP_PROCESSOR } from '../../image/siglip.js';
import { packFeatures, singleViewLayout } from '../../layout/layout.js';
import type { TensorInfo } from '../../source/types.js';
import { visionTowerDef } from '../../graph/towers.js';
import { LLAVA_NAMING, TensorNaming } from '../../graph/weights.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { checkShape } from '../../util/shape.js';
import { pixelInputs, type Family, type LoadedFamily } from '../types.js';
import { parseLlavaConfig, type LlavaConfig } from './config.js';
import { buildLlavaVisionGraph, llavaVisionTensorNames, type LlavaVisionSpec } from './vision.js';
import { LLAVA_LANGUAGE } from './language.js';

/** LLaVA-family text naming: legacy `language_model.model.` / `language_model.lm_head.` and >= 4.52's layout. */
export const LLAVA_TEXT_NAMING = new TensorNaming({
  'language_model.model.': ['language_model.model.', 'model.language_model.'],
  'language_model.lm_head.': ['language_model.lm_head.', 'lm_head.'],
});

/**
 * The processor config parsed by one of `defs`, or (when the checkpoint has none) the one HF's conversion scripts
 * write for this tower: `defaultClass` at the tower's image size.
 */
export function processorFor<S extends ClipProcessorSpec>(
  preprocessor: Json | null,
  cfg: LlavaConfig,
  where: string,
  defs: readonly ProcessorDef[],
  defaultClass: string,
  modelType: string,
  extra: Json = {},
): { spec: S; notices: string[] } {
  if (preprocessor) {
    const file = `${where}/preprocessor_config.json`;
    return {
      spec: parseWith(preprocessor, file, defs, defaultClass, `a ${modelType} model`) as S,
      notices: [],
    };
  }
  const s = cfg.vision.imageSize;
  const synthetic: Json = {
    image_processor_type: defaultClass,
    size: { shortest_edge: s },
    crop_size: { height: s, width: s },
    ...extra,
  };
  const spec = parseWith(synthetic, `${where} (no preprocessor_config.json)`, defs, defaultClass) as S;
  return {
    spec,
    notices: [`${where}: no preprocessor_config.json; using ${defaultClass} defaults at ${s}px`],
  };
}

/** Checks that the processor's crops are what the vision tower takes. */
export function checkCropSize(spec: ClipProcessorSpec, cfg: LlavaConfig, where: string): void {
  const s = cfg.vision.imageSize;
  if (spec.cropSize.height !== s || spec.cropSize.width !== s) {
    throw new CheckpointError(
      `${where}: preprocessor crop_size ${spec.cropSize.width}x${spec.cropSize.height} does not match vision_config.image_size ${s}`,
    );
  }
}

export function visionSpec(cfg: LlavaConfig): LlavaVisionSpec {
  return {
    tower: cfg.vision,
    featureLayer: cfg.featureLayer,
    strategy: cfg.strategy,
    projector: { act: cfg.projectorAct, textHidden: cfg.text.hiddenSize },
  };
}

/**
 * How many `<image>` placeholders transformers 4.45.1's LlavaProcessor.__call__ inserts for one image of
 * pixel_values height x width (models/llava/processing_llava.py): (h // patch) * (w // patch) + 1, minus 1 for
 * 'default'. It assumes a CLS token, so for a SigLIP tower with 'full' it is one MORE than the model's feature
 * vectors (65 for 64 with tiny-llava-siglip); later versions subtract num_additional_image_tokens (0 for SigLIP).
 * imgtokens lays out the model's vectors, so this count is informational only.
 */
export function llavaProcessorImageTokens(
  pixelHeight: number,
  pixelWidth: number,
  patchSize: number,
  strategy: 'default' | 'full',
): number {
  const n = Math.floor(pixelHeight / patchSize) * Math.floor(pixelWidth / patchSize) + 1;
  return strategy === 'default' ? n - 1 : n;
}

export function patchGrid(cfg: LlavaConfig): { rows: number; cols: number } {
  const n = cfg.vision.imageSize / cfg.vision.patchSize;
  return { rows: n, cols: n };
}

export const llava: Family = {
  modelType: 'llava',
  label: 'LLaVA-1.5',
  exampleHubId: 'llava-hf/llava-1.5-7b-hf',
  viewsDescription:
    'base: the center-cropped square CLIP sees (24x24 patches at 336 px); with a SigLIP tower (llava-interleave) the whole image squashed to a square',
  processors: [CLIP_PROCESSOR, SIGLIP_PROCESSOR],
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load({ config, preprocessor, imageBackend, index, where }): LoadedFamily {
    const cfg = parseLlavaConfig(config);
    // A SigLIP tower (llava-interleave) has no CLS and comes with SiglipImageProcessor (a direct square resize).
    const tower = visionTowerDef(cfg.vision.modelType, `${where}/config.json → vision_config`);
    const siglip = !tower.hasCls;
    const s = cfg.vision.imageSize;
    const { spec: parsed, notices } = siglip
      ? processorFor(preprocessor, cfg, where, llava.processors, 'SiglipImageProcessor', 'llava', {
          size: { height: s, width: s },
        })
      : processorFor(preprocessor, cfg, where, llava.processors, 'CLIPImageProcessor', 'llava');
    const chosen = chooseBackend(parsed, imageBackend, llava.imageBackends!.default, where);
    const proc = chosen.spec;
    notices.push(chosen.notice);
    if (!tower.hasCls && cfg.strategy === 'default') {
      throw new UnsupportedModelError(
        `${where}/config.json: vision_feature_select_strategy "default" with a ${cfg.vision.modelType} tower (no CLS token) is not supported`,
        {
          hint: 'transformers 4.45 would drop the first PATCH (SigLIP has no CLS token); SigLIP LLaVA checkpoints use "full"',
        },
      );
    }
    checkCropSize(proc, cfg, where);
    const text = resolveTextTensors(index, cfg.text, where, {
      naming: LLAVA_TEXT_NAMING,
      declaredTie: cfg.topLevelTie ?? cfg.text.tieWordEmbeddings,
    });
    const vspec = visionSpec(cfg);
    const grid = patchGrid(cfg);
    // 'full' keeps a CLS token first only when the tower has one. The token count is the number of feature
    // vectors, not what 4.45's LlavaProcessor inserts for a SigLIP tower (one more: see llavaProcessorImageTokens).
    const cls = cfg.strategy === 'full' && tower.hasCls;
    const perCrop = grid.rows * grid.cols + (cls ? 1 : 0);
    return {
      modelType: 'llava',
      views: ['base'],
      text: text.spec,
      language: LLAVA_LANGUAGE,
      notices: [...notices, ...text.notices],
      visionTensorNames: () => llavaVisionTensorNames(vspec, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildLlavaVisionGraph(vspec, tensors, { where }).model,
      processor: proc,
      imageBackend: proc.backend,
      visionInputs: (pre) => pixelInputs(pre, perCrop),
      layout: (pre) => singleViewLayout(pre.geometry, grid, { cls }),
      pack: (cropFeatures, pre, layout) =>
        packFeatures(cropFeatures, [pre.shape[0], perCrop, cfg.text.hiddenSize], layout, null),
    };
  },
};

/** The checkpoint name of the `image_newline` vector (either naming), checked to be [text hidden]. */
export function imageNewlineTensor(
  index: ReadonlyMap<string, TensorInfo>,
  hidden: number,
  where: string,
  modelType: string,
): string {
  const name = LLAVA_NAMING.resolve('image_newline', (n) => index.has(n));
  if (!name) {
    throw new MissingTensorError(
      `${where}: tensor image_newline is missing (looked for ${LLAVA_NAMING.candidates('image_newline').join(', ')})`,
      { hint: `a ${modelType} checkpoint has an image_newline vector; check the repo id and config.json` },
    );
  }
  checkShape(name, index.get(name)!.shape, [hidden], (m) => new MissingTensorError(`${where}: ${m}`));
  return name;
}
