/**
 * Idefics3ImageProcessor = SmolVLMImageProcessor (transformers 5.12.1, identical code; the `*Pil` classes are the PIL
 * backend): models/idefics3/image_processing_idefics3.py.
 *   1. convert_to_rgb (alpha dropped, not composited: src/image/decode.ts already gives RGB that way);
 *   2. resize so the longest edge is size.longest_edge = L, ALSO upscaling: w >= h: w1 = L, h1 = int(L / (w/h)),
 *      +1 if odd (h > w mirrored), both >= 1, then scaled down to fit 4096;
 *   3. do_image_splitting: resize_for_vision_encoder (ceil both sides to multiples of M = max_image_size.longest_edge;
 *      the aspect ratio is NOT kept), cut into row-major M x M tiles, then the GLOBAL image = resize(canvas -> M x M)
 *      (from the canvas: three chained resizes), last; a canvas of one tile is the only tile (rows = cols = 0).
 *      Without splitting: the longest-edge image squashed to M x M, rows = cols = 0.
 *   4. rescale + normalize per backend: PIL (x * (1/255) in float64 -> float32, then (x - mean) / std in float32) or
 *      torchvision (fused (x - mean/rescale) / (std/rescale) in float32).
 * Resizes: Pillow LANCZOS (resample 1) bit for bit on the PIL backend; torchvision's uint8 antialiased kernel
 * (src/image/resize-torch.ts) on the torchvision backend. pixel_values is [1, n_tiles, 3, M, M] as the processor returns.
 */
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import { ConfigReader, type Json } from '../../config/reader.js';
import type { ImageBackend } from '../../api.js';
import {
  readPixelNorm,
  readResample,
  tileGeometry,
  type AffineMap,
  type CropGeometry,
  type PreprocessResult,
  type ProcessorDef,
} from '../../image/processor.js';
import { resizePillow, type ResampleFilter } from '../../image/resize.js';
import { resizeTorchvision, toPixelValuesFused } from '../../image/resize-torch.js';
import { cropImage, toChw, toPixelValues, type Size } from '../../image/transforms.js';
import type { RgbImage } from '../../types.js';

export type Idefics3ProcessorType = 'Idefics3ImageProcessor' | 'SmolVLMImageProcessor';

export interface Idefics3ProcessorSpec {
  /** The registered class (both run the same code with their own defaults). */
  type: Idefics3ProcessorType;
  processorClass: string;
  doResize: boolean;
  /** size.longest_edge (L). */
  longestEdge: number;
  /** max_image_size.longest_edge (M) = the vision tower's image_size. */
  maxImageSize: number;
  resample: ResampleFilter;
  doImageSplitting: boolean;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  backend: ImageBackend;
}

/** Idefics3ImageProcessor / SmolVLMImageProcessor __init__ defaults (LANCZOS, IDEFICS_STANDARD_MEAN/STD = 0.5). */
export const IDEFICS3_PROCESSOR_DEFAULTS = {
  Idefics3ImageProcessor: { longestEdge: 4 * 364, maxImageSize: 364 },
  SmolVLMImageProcessor: { longestEdge: 4 * 512, maxImageSize: 512 },
  resample: 1, // PILImageResampling.LANCZOS
  doImageSplitting: true,
  rescaleFactor: 1 / 255,
  imageMean: [0.5, 0.5, 0.5] as [number, number, number],
  imageStd: [0.5, 0.5, 0.5] as [number, number, number],
};

/** The largest side transformers lets the longest-edge resize produce (MAX_IMAGE_SIZE in image_processing_idefics3.py). */
export const MAX_IMAGE_SIZE = 4096;

/** Parses the image settings (flat dict) of an Idefics3 / SmolVLM processor; `defaultClass` names the class defaults. */
export function parseIdefics3ProcessorConfig(
  raw: Json,
  where: string,
  defaultClass: Idefics3ProcessorType,
  backend: ImageBackend,
): Idefics3ProcessorSpec {
  const r = new ConfigReader(raw, where);
  const cls = r.str('image_processor_type', defaultClass).replace(/Pil$|Fast$/, '');
  if (cls !== 'Idefics3ImageProcessor' && cls !== 'SmolVLMImageProcessor') {
    throw new UnsupportedModelError(
      `${where}: image processor "${cls}" is not an Idefics3/SmolVLM processor`,
      {
        hint: 'an idefics3 / smolvlm checkpoint comes with Idefics3ImageProcessor or SmolVLMImageProcessor',
      },
    );
  }
  const d = IDEFICS3_PROCESSOR_DEFAULTS;
  const sizes = d[cls];
  const longestEdge = r.has('size') ? r.sub('size').posInt('longest_edge') : sizes.longestEdge;
  const maxImageSize = r.has('max_image_size')
    ? r.sub('max_image_size').posInt('longest_edge')
    : sizes.maxImageSize;
  return {
    type: cls,
    processorClass: r.str('image_processor_type', defaultClass),
    doResize: r.bool('do_resize', true),
    longestEdge,
    maxImageSize,
    resample: readResample(r, d.resample),
    doImageSplitting: r.bool('do_image_splitting', d.doImageSplitting),
    ...readPixelNorm(r, { rescaleFactor: d.rescaleFactor, imageMean: d.imageMean, imageStd: d.imageStd }),
    backend,
  };
}

// ---------------------------------------------------------------- geometry (no pixels)

/** _resize_output_size_rescale_to_max_len then _resize_output_size_scale_below_upper_bound (as [height, width]). */
export function longestEdgeSize(img: Size, longest: number): Size {
  let { height, width } = img;
  const aspect = width / height;
  if (width >= height) {
    width = longest;
    height = Math.trunc(width / aspect);
    if (height % 2 !== 0) height += 1;
  } else {
    height = longest;
    width = Math.trunc(height * aspect);
    if (width % 2 !== 0) width += 1;
  }
  height = Math.max(height, 1);
  width = Math.max(width, 1);
  // scale_below_upper_bound(max_len = MAX_IMAGE_SIZE)
  const a = width / height;
  if (width >= height && width > MAX_IMAGE_SIZE) {
    width = MAX_IMAGE_SIZE;
    height = Math.trunc(width / a);
  } else if (height > width && height > MAX_IMAGE_SIZE) {
    height = MAX_IMAGE_SIZE;
    width = Math.trunc(height * a);
  }
  return { height: Math.max(height, 1), width: Math.max(width, 1) };
}

/** resize_for_vision_encoder: both sides up to multiples of M (the short side from int(long / aspect)). */
export function visionEncoderCanvas(img: Size, m: number): Size {
  const aspect = img.width / img.height;
  if (img.width >= img.height) {
    const width = Math.ceil(img.width / m) * m;
    const height = Math.ceil(Math.trunc(width / aspect) / m) * m;
    return { height, width };
  }
  const height = Math.ceil(img.height / m) * m;
  const width = Math.ceil(Math.trunc(height * aspect) / m) * m;
  return { height, width };
}

export interface Idefics3Geometry {
  /** After the longest-edge resize (the input when do_resize is false). */
  resized: Size;
  /** The image the tiles are cut from (do_image_splitting), else the M x M squash. */
  canvas: Size;
  /** Grid of tiles; 0 x 0 when the image is one tile (no grid, no markers). */
  rows: number;
  cols: number;
  tiles: number;
}

export function idefics3Geometry(img: Size, spec: Idefics3ProcessorSpec): Idefics3Geometry {
  const M = spec.maxImageSize;
  const resized = spec.doResize ? longestEdgeSize(img, spec.longestEdge) : img;
  if (!spec.doImageSplitting) return { resized, canvas: { height: M, width: M }, rows: 0, cols: 0, tiles: 1 };
  const canvas = visionEncoderCanvas(resized, M);
  if (canvas.height > M || canvas.width > M) {
    const rows = Math.ceil(canvas.height / M);
    const cols = Math.ceil(canvas.width / M);
    return { resized, canvas, rows, cols, tiles: rows * cols + 1 };
  }
  return { resized, canvas, rows: 0, cols: 0, tiles: 1 };
}

// ---------------------------------------------------------------- pixels

export interface Idefics3Preprocess extends PreprocessResult {
  idefics3: Idefics3Geometry & {
    /** The uint8 images of each stage, for dumps and tests. */
    resizedImage: RgbImage;
    canvasImage: RgbImage;
    tileImages: RgbImage[];
  };
}

/** Steps 2-4 for one RGB image; `resizeFrom` = how the global image is made (the canvas, as transformers does). */
export function idefics3Preprocess(
  rgb: RgbImage,
  spec: Idefics3ProcessorSpec,
  opts: { globalFrom?: 'canvas' | 'original' } = {},
): Idefics3Preprocess {
  const M = spec.maxImageSize;
  const image = { height: rgb.height, width: rgb.width };
  const geo = idefics3Geometry(image, spec);
  const resize = (img: RgbImage, s: Size): RgbImage =>
    spec.backend === 'pil'
      ? resizePillow(img, s.width, s.height, { filter: spec.resample })
      : resizeTorchvision(img, s.width, s.height, spec.resample);
  const resizedImage = spec.doResize ? resize(rgb, geo.resized) : rgb;
  const canvasImage = resize(resizedImage, geo.canvas);
  const tiles: RgbImage[] = [];
  const crops: CropGeometry[] = [];
  // canvas frame -> original: one anisotropic scale (the resizes are edge-to-edge maps).
  const sx = image.width / geo.canvas.width;
  const sy = image.height / geo.canvas.height;
  for (let r = 0; r < geo.rows; r++) {
    for (let c = 0; c < geo.cols; c++) {
      const win = { top: r * M, left: c * M, height: M, width: M };
      tiles.push(cropImage(canvasImage, win));
      const toOriginal: AffineMap = { sx, sy, tx: c * M * sx, ty: r * M * sy };
      crops.push(tileGeometry(crops.length, 'grid', r, c, win, toOriginal, M));
    }
  }
  const whole = { top: 0, left: 0, height: image.height, width: image.width };
  const globalMap: AffineMap = { sx: image.width / M, sy: image.height / M, tx: 0, ty: 0 };
  if (geo.rows > 0) {
    const src = opts.globalFrom === 'original' ? rgb : canvasImage;
    tiles.push(resize(src, { height: M, width: M }));
  } else {
    tiles.push(canvasImage); // one tile: the canvas itself (M x M)
  }
  crops.push(tileGeometry(crops.length, 'base', -1, -1, whole, globalMap, M));
  for (const t of tiles) {
    if (t.width !== M || t.height !== M) {
      throw new CheckpointError(`Idefics3 tile is ${t.width}x${t.height}, expected ${M}x${M}`);
    }
  }
  const per = 3 * M * M;
  const cropsUint8 = new Uint8Array(tiles.length * per);
  const pixelValues = new Float32Array(tiles.length * per);
  tiles.forEach((t, i) => {
    toChw(t, cropsUint8, i * per);
    if (spec.backend === 'torchvision' && spec.doRescale && spec.doNormalize) {
      toPixelValuesFused(
        t,
        { rescaleFactor: spec.rescaleFactor, mean: spec.imageMean, std: spec.imageStd },
        pixelValues,
        i * per,
      );
    } else {
      const norm = {
        doRescale: spec.doRescale,
        rescaleFactor: spec.rescaleFactor,
        doNormalize: spec.doNormalize,
        mean: spec.imageMean,
        std: spec.imageStd,
      };
      toPixelValues(t, norm, pixelValues, i * per);
    }
  });
  return {
    cropsUint8,
    pixelValues,
    shape: [1, tiles.length, 3, M, M],
    geometry: { image, crops, anyres: null },
    idefics3: { ...geo, resizedImage, canvasImage, tileImages: tiles },
  };
}

/**
 * The registered processor classes (PIL `*Pil` and legacy `*Fast` names are the same settings). parse() gives the
 * torchvision backend, what AutoProcessor picks; the family sets `backend` from LoadOptions.imageBackend.
 */
function processorDef(type: Idefics3ProcessorType): ProcessorDef<Idefics3ProcessorSpec> {
  return {
    type,
    aliases: [`${type}Pil`, `${type}Fast`],
    parse: (raw, where) => parseIdefics3ProcessorConfig(raw, where, type, 'torchvision'),
    run: (rgb, spec) => idefics3Preprocess(rgb, spec),
  };
}
export const IDEFICS3_PROCESSOR = processorDef('Idefics3ImageProcessor');
export const SMOLVLM_PROCESSOR = processorDef('SmolVLMImageProcessor');
