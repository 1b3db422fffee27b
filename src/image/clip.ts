/**
 * CLIPImageProcessor: resize (shortest edge) -> center crop -> rescale -> normalize -> CHW, and its geometry (the
 * crop's map back onto the original image). The steps are shared: SiglipImageProcessor runs them without the center
 * crop (src/image/siglip.ts) and anyres processors run them on every crop (src/image/anyres.ts).
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/clip/image_processing_clip.py and
 * image_transforms.py (get_resize_output_image_size, resize) on the `pil` backend; on the `torchvision` backend the
 * same steps as transformers 5.12.1 models/clip/image_processing_clip.py (TorchvisionBackend._preprocess: resize,
 * center_crop, fused rescale + normalize) run them, with the shared torchvision steps of src/image/backend.ts.
 */
import type { ImageBackend } from '../api.js';
import { CheckpointError, UnsupportedModelError } from '../errors.js';
import { ConfigReader, type Json } from '../config/reader.js';
import type { RgbImage } from '../types.js';
import {
  composeAffine,
  IDENTITY,
  offsetMap,
  parseSize,
  readPixelNorm,
  readResample,
  resizeMap,
  type AffineMap,
  type CropGeometry,
  type PixelNorm,
  type PreprocessGeometry,
  type PreprocessResult,
  type ProcessorDef,
  type ProcessorSpec,
  type SizeSpec,
} from './processor.js';
import { backendOf, centerCropWindowWith, resizeWith, toPixelValuesWith } from './backend.js';
import type { ResampleFilter } from './resize.js';
import { cropImage, toChw, type CropWindow, type Size } from './transforms.js';

/** Fields shared by CLIP-style processors (BaseImageProcessor + CLIPImageProcessor). */
export interface ClipProcessorSpec extends ProcessorSpec, PixelNorm {
  doResize: boolean;
  size: SizeSpec;
  resample: ResampleFilter;
  doCenterCrop: boolean;
  cropSize: Size;
  /** transformers 5's image-processor backend these steps mirror (src/image/backend.ts); the family sets it. */
  backend: ImageBackend;
}

/**

/** constants.py OPENAI_CLIP_MEAN / OPENAI_CLIP_STD. */
export const OPENAI_CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** CLIPImageProcessor.__init__ defaults. */
export const CLIP_PROCESSOR_DEFAULTS = {
  size: { shortestEdge: 224 } as SizeSpec,
  resample: 3, // PILImageResampling.BICUBIC
  doCenterCrop: true,
  cropSize: { height: 224, width: 224 },
  doRescale: true,
  rescaleFactor: 1 / 255,
  doNormalize: true,
  imageMean: OPENAI_CLIP_MEAN,
  imageStd: OPENAI_CLIP_STD,
  doConvertRgb: true,
};

/** Parses a CLIPImageProcessor preprocessor_config.json; values the file omits get the class defaults. */
export function parseClipProcessorConfig(raw: Json, where = 'preprocessor_config.json'): ClipProcessorSpec {
  const r = new ConfigReader(raw, where);
  const cls = r.has('image_processor_type')
    ? r.str('image_processor_type')
    : r.str('feature_extractor_type', 'CLIPImageProcessor');
  const d = CLIP_PROCESSOR_DEFAULTS;
  const resample = readResample(r, d.resample);
  let size = parseSize(r, 'size', d.size, false);
  // CLIPImageProcessor.__init__: the legacy use_square_size flag turns shortest_edge into a square.
  if (r.bool('use_square_size', false) && 'shortestEdge' in size) {
    size = { height: size.shortestEdge, width: size.shortestEdge };
  }
  const cropSpec = parseSize(r, 'crop_size', d.cropSize, true);
  if (!('height' in cropSpec)) throw new CheckpointError(`${where}: crop_size must have height and width`);
  return {
    type: CLIP_PROCESSOR.type,
    processorClass: cls,
    doResize: r.bool('do_resize', true),
    size,
    resample,
    doCenterCrop: r.bool('do_center_crop', d.doCenterCrop),
    cropSize: { height: cropSpec.height, width: cropSpec.width },
    ...readPixelNorm(r, d),
    backend: 'pil',
  };
}

/**
 * image_transforms.get_resize_output_image_size for a shortest_edge size (default_to_square=False): the short side becomes
 * `shortest`, the long side int(shortest * long / short) (truncated); with max_size, both are scaled down to fit.
 */
export function shortestEdgeSize(img: Size, shortest: number, maxSize?: number): Size {
  const landscape = img.width > img.height; // (short, long) = (w, h) if w <= h else (h, w)
  const short = landscape ? img.height : img.width;
  const long = landscape ? img.width : img.height;
  let newShort = shortest;
  let newLong = Math.trunc((shortest * long) / short);
  if (maxSize !== undefined) {
    if (maxSize <= shortest) {
      throw new CheckpointError(`max_size (${maxSize}) must be greater than the shortest edge (${shortest})`);
    }
    if (newLong > maxSize) {
      newShort = Math.trunc((maxSize * newShort) / newLong);
      newLong = maxSize;
    }
  }
  return landscape ? { height: newShort, width: newLong } : { height: newLong, width: newShort };
}

/** The CLIP steps a spec configures (anyres runs them on every crop). */
export type ClipSteps = Omit<ClipProcessorSpec, 'type' | 'processorClass'>;

/** CLIPImageProcessor's per-image steps up to the uint8 crop (resize, center crop), with the crop -> input frame map. */
export function clipGeometricSteps(
  img: RgbImage,
  spec: ClipSteps,
): { out: RgbImage; resize: Size | null; centerCrop: CropWindow | null; toInput: AffineMap } {
  let cur = img;
  let toInput = IDENTITY;
  let resize: Size | null = null;
  if (spec.doResize) {
    // CLIPImageProcessor.resize passes only shortest_edge (no max_size) to get_resize_output_image_size.
    const target = 'shortestEdge' in spec.size ? shortestEdgeSize(img, spec.size.shortestEdge) : spec.size;
    if (target.height !== img.height || target.width !== img.width) {
      resize = target;
      toInput = resizeMap(img, target);
    }
    cur = resizeWith(backendOf(spec), img, target.width, target.height, spec.resample);
  }
  let centerCrop: CropWindow | null = null;
  if (spec.doCenterCrop) {
    centerCrop = centerCropWindowWith(backendOf(spec), cur, spec.cropSize);
    cur = cropImage(cur, centerCrop);
    toInput = composeAffine(toInput, offsetMap(centerCrop.top, centerCrop.left));
  }
  return { out: cur, resize, centerCrop, toInput };
}

/** Stacks equally sized uint8 crops into [n, 3, H, W] uint8 and float32 pixel values. */
export function stack(crops: RgbImage[], spec: ClipSteps, geometry: PreprocessGeometry): PreprocessResult {
  const { height, width } = crops[0];
  for (const [i, c] of crops.entries()) {
    if (c.height !== height || c.width !== width) {
      throw new UnsupportedModelError(
        `crop ${i} is ${c.width}x${c.height} but crop 0 is ${width}x${height}; the processor settings do not give equal crops`,
        { hint: 'check do_center_crop / crop_size in preprocessor_config.json' },
      );
    }
  }
  const per = 3 * height * width;
  const cropsUint8 = new Uint8Array(crops.length * per);
  const pixelValues = new Float32Array(crops.length * per);
  const norm = {
    doRescale: spec.doRescale,
    rescaleFactor: spec.rescaleFactor,
    doNormalize: spec.doNormalize,
    mean: spec.imageMean,
    std: spec.imageStd,
  };
  crops.forEach((c, i) => {
    toChw(c, cropsUint8, i * per);
    toPixelValuesWith(backendOf(spec), c, norm, pixelValues, i * per);
  });
  return { cropsUint8, pixelValues, shape: [crops.length, 3, height, width], geometry };
}

/** CLIPImageProcessor.preprocess for one RGB image: pixel_values [1, 3, H, W]. */
export function clipPreprocess(rgb: RgbImage, spec: ClipSteps): PreprocessResult {
  const g = clipGeometricSteps(rgb, spec);
  const crop: CropGeometry = {
    index: 0,
    view: 'base',
    gridRow: -1,
    gridCol: -1,
    region: { top: 0, left: 0, height: rgb.height, width: rgb.width },
    resize: g.resize,
    centerCrop: g.centerCrop,
    height: g.out.height,
    width: g.out.width,
    toOriginal: g.toInput,
  };
  return stack([g.out], spec, {
    image: { height: rgb.height, width: rgb.width },
    crops: [crop],
    anyres: null,
  });
}

export const CLIP_PROCESSOR: ProcessorDef<ClipProcessorSpec> = {
  type: 'CLIPImageProcessor',
  aliases: ['CLIPFeatureExtractor'],
  parse: parseClipProcessorConfig,
  run: clipPreprocess,
};
