/**
 * SiglipImageProcessor: resize straight to size {height, width} (aspect ratio NOT kept, no center crop) with its
 * resample (BICUBIC by default), rescale, normalize with mean = std = 0.5. Used by PaliGemma and by LLaVA /
 * LLaVA-OneVision checkpoints with a SigLIP tower.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/siglip/image_processing_siglip.py
 * (SiglipImageProcessor.__init__ defaults and preprocess: resize(size=(height, width)) through Pillow on the uint8
 * image, then rescale and normalize as CLIP does).
 * The pipeline is CLIP's with the center crop switched off, so the spec is a ClipProcessorSpec with
 * cropSize = size, and clipPreprocess runs it bit-exactly (same Pillow resampler, same float32 rescale/normalize).
 * transformers 5.12.1's torchvision SiglipImageProcessor is the plain TorchvisionBackend._preprocess (resize to
 * {height, width}, fused rescale + normalize): the same spec with backend 'torchvision'.
 */
import { CheckpointError } from '../errors.js';
import { ConfigReader, type Json } from '../config/reader.js';
import { clipPreprocess, type ClipProcessorSpec } from './clip.js';
import { readPixelNorm, readResample, type ProcessorDef } from './processor.js';

/** constants.py IMAGENET_STANDARD_MEAN / IMAGENET_STANDARD_STD. */
export const IMAGENET_STANDARD_MEAN: [number, number, number] = [0.5, 0.5, 0.5];
export const IMAGENET_STANDARD_STD: [number, number, number] = [0.5, 0.5, 0.5];

/** SiglipImageProcessor.__init__ defaults. do_convert_rgb defaults to None (no conversion). */
export const SIGLIP_PROCESSOR_DEFAULTS = {
  size: { height: 224, width: 224 },
  resample: 3, // PILImageResampling.BICUBIC
  doRescale: true,
  rescaleFactor: 1 / 255,
  doNormalize: true,
  imageMean: IMAGENET_STANDARD_MEAN,
  imageStd: IMAGENET_STANDARD_STD,
  doConvertRgb: false,
};

/** Parses a SiglipImageProcessor preprocessor_config.json (values the file omits get the class defaults). */
export function parseSiglipProcessorConfig(raw: Json, where = 'preprocessor_config.json'): ClipProcessorSpec {
  const r = new ConfigReader(raw, where);
  const d = SIGLIP_PROCESSOR_DEFAULTS;
  const resample = readResample(r, d.resample);
  // preprocess: get_size_dict(size, default_to_square=False) then size["height"], size["width"]: an int or a
  // shortest_edge dict raises KeyError in transformers, so only {height, width} is accepted here.
  let size = d.size;
  if (r.has('size')) {
    const s = r.sub('size');
    if (!s.has('height') || !s.has('width')) {
      throw new CheckpointError(
        `${where}: SiglipImageProcessor needs "size": {"height", "width"}, got ${JSON.stringify(raw['size'])}`,
        { hint: 'SiglipImageProcessor resizes straight to height x width; fix preprocessor_config.json' },
      );
    }
    size = { height: s.posInt('height'), width: s.posInt('width') };
  }
  return {
    type: SIGLIP_PROCESSOR.type,
    processorClass: 'SiglipImageProcessor',
    doResize: r.bool('do_resize', true),
    size,
    resample,
    doCenterCrop: false,
    cropSize: { ...size },
    ...readPixelNorm(r, d),
    backend: 'pil',
  };
}

export const SIGLIP_PROCESSOR: ProcessorDef<ClipProcessorSpec> = {
  type: 'SiglipImageProcessor',
  parse: parseSiglipProcessorConfig,
  run: clipPreprocess,
};
