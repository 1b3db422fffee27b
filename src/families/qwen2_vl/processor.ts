/**
 * Qwen2VLImageProcessor: dynamic resolution. The image is resized (aspect ratio roughly kept) to the nearest size whose
 * sides are multiples of patch_size * merge_size and whose area lies in [min_pixels, max_pixels] (`smart_resize`), then
 * rescaled and normalised as CLIP, repeated temporal_patch_size times along a time axis and cut into flattened patch
 * rows ordered by 2x2 merge block: pixel_values is 2-D, [grid_t * grid_h * grid_w, C * T * p * p].
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357)
 * models/qwen2_vl/image_processing_qwen2_vl.py (smart_resize, Qwen2VLImageProcessor.__init__ defaults and _preprocess).
 * The geometry is one crop (the resized image) mapped back onto the original, so a merged token's box is its 2x2 patch
 * block on the original image.
 * `backend`: 'pil' is the above (= transformers 5.12.1 Qwen2VLImageProcessorPil); 'torchvision' is transformers 5.12.1's
 * default Qwen2VLImageProcessor: the same smart_resize target, torch's uint8 antialiased resize and the fused
 * rescale + normalize (src/image/backend.ts), then the same patch order (bit-exact on fixtures-modern's
 * resized_uint8_torchvision.npy / pixel_values.npy).
 */
import type { ImageBackend } from '../../api.js';
import { ConfigReader, type Json } from '../../config/reader.js';
import { BadInputError, CheckpointError } from '../../errors.js';
import { OPENAI_CLIP_MEAN, OPENAI_CLIP_STD } from '../../image/clip.js';
import {
  readPixelNorm,
  readResample,
  type CropGeometry,
  type PixelNorm,
  type PreprocessResult,
  type ProcessorDef,
  type ProcessorSpec,
} from '../../image/processor.js';
import { backendOf, resizeWith, toPixelValuesWith } from '../../image/backend.js';
import type { ResampleFilter } from '../../image/resize.js';
import { toChw, type Size } from '../../image/transforms.js';
import type { RgbImage } from '../../types.js';

export interface Qwen2VLProcessorSpec extends ProcessorSpec, PixelNorm {
  doResize: boolean;
  resample: ResampleFilter;
  minPixels: number;
  maxPixels: number;
  patchSize: number;
  temporalPatchSize: number;
  mergeSize: number;
  /** transformers 5's image-processor backend (src/image/backend.ts); the family sets it. */
  backend: ImageBackend;
}

/**
 * Qwen2VLImageProcessor.__init__ defaults. Real hub files override min/max_pixels (e.g. max_pixels 12845056 in the
 * Qwen2-VL-*-Instruct repos), so they are always read from the file when present.
 */
export const QWEN2VL_PROCESSOR_DEFAULTS = {
  resample: 3, // PILImageResampling.BICUBIC
  minPixels: 56 * 56,
  maxPixels: 28 * 28 * 1280,
  patchSize: 14,
  temporalPatchSize: 2,
  mergeSize: 2,
  rescaleFactor: 1 / 255,
  imageMean: OPENAI_CLIP_MEAN,
  imageStd: OPENAI_CLIP_STD,
};

/**
 * Parses a Qwen2VLImageProcessor preprocessor_config.json. 4.45 writes min_pixels / max_pixels at the top level (and
 * copies them into size); later versions write size {shortest_edge, longest_edge}. The top level wins, then size.
 */
export function parseQwen2VLProcessorConfig(
  raw: Json,
  where = 'preprocessor_config.json',
): Qwen2VLProcessorSpec {
  const r = new ConfigReader(raw, where);
  const d = QWEN2VL_PROCESSOR_DEFAULTS;
  const resample = readResample(r, d.resample);
  const size = r.sub('size');
  const minPixels = r.has('min_pixels')
    ? r.posInt('min_pixels')
    : size.posInt('min_pixels', size.posInt('shortest_edge', d.minPixels));
  const maxPixels = r.has('max_pixels')
    ? r.posInt('max_pixels')
    : size.posInt('max_pixels', size.posInt('longest_edge', d.maxPixels));
  if (minPixels > maxPixels) {
    throw new CheckpointError(`${where}: min_pixels ${minPixels} is larger than max_pixels ${maxPixels}`);
  }
  return {
    type: QWEN2VL_PROCESSOR.type,
    processorClass: r.str('image_processor_type', 'Qwen2VLImageProcessor'),
    doResize: r.bool('do_resize', true),
    resample,
    minPixels,
    maxPixels,
    patchSize: r.posInt('patch_size', d.patchSize),
    temporalPatchSize: r.posInt('temporal_patch_size', d.temporalPatchSize),
    mergeSize: r.posInt('merge_size', d.mergeSize),
    ...readPixelNorm(r, d),
    backend: 'pil',
  };
}

/** Python 3's round(x) for x >= 0: ties go to the even integer (round(22.5) == 22, round(23.5) == 24). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export type SmartResizeBranch = 'round' | 'max_pixels' | 'min_pixels';

/**
 * smart_resize (image_processing_qwen2_vl.py): sides rounded to multiples of `factor` with Python's round (half to
 * even), then scaled down (floor) when the area exceeds max_pixels or up (ceil) when it is below min_pixels.
 */
export function smartResize(
  height: number,
  width: number,
  factor: number,
  minPixels: number,
  maxPixels: number,
): Size & { branch: SmartResizeBranch } {
  if (height < factor || width < factor) {
    throw new BadInputError(
      `the image is ${width}x${height} px; Qwen2-VL needs both sides to be at least ${factor} px`,
      { hint: `use an image at least ${factor}x${factor} px (patch_size * merge_size)` },
    );
  }
  if (Math.max(height, width) / Math.min(height, width) > 200) {
    throw new BadInputError(
      `the image is ${width}x${height} px; Qwen2-VL accepts an aspect ratio of at most 200`,
      { hint: 'crop the image to a less extreme aspect ratio' },
    );
  }
  let h = roundHalfEven(height / factor) * factor;
  let w = roundHalfEven(width / factor) * factor;
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = Math.floor(height / beta / factor) * factor;
    w = Math.floor(width / beta / factor) * factor;
    return { height: h, width: w, branch: 'max_pixels' };
  }
  if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
    return { height: h, width: w, branch: 'min_pixels' };
  }
  return { height: h, width: w, branch: 'round' };
}

/** The patch grid of a Qwen2-VL input: grid_t x grid_h x grid_w patches (image_grid_thw, in PATCH units). */
export interface Qwen2VLGrid {
  t: number;
  h: number;
  w: number;
}

/** image_grid_thw of a preprocessed image, read back from its geometry (the resized image's size). */
export function qwen2vlGrid(pre: PreprocessResult, patchSize: number): Qwen2VLGrid {
  const crop = pre.geometry.crops[0];
  return { t: 1, h: crop.height / patchSize, w: crop.width / patchSize };
}

/**
 * Qwen2VLImageProcessor.preprocess for one RGB image. pixel_values [grid_t*grid_h*grid_w, C*T*p*p], rows ordered by
 * (block row, block col, row in block, col in block) and each row's values by (channel, time, py, px): the numpy
 * reshape (1, T, C, gh/m, m, p, gw/m, m, p) + transpose (0, 3, 6, 4, 7, 2, 1, 5, 8) of _preprocess, written as an index map.
 */
export function qwen2vlPreprocess(rgb: RgbImage, spec: Qwen2VLProcessorSpec): PreprocessResult {
  const image = { height: rgb.height, width: rgb.width };
  const p = spec.patchSize;
  const m = spec.mergeSize;
  const T = spec.temporalPatchSize;
  const factor = p * m;
  let img = rgb;
  let resize: Size | null = null;
  if (spec.doResize) {
    const target = smartResize(rgb.height, rgb.width, factor, spec.minPixels, spec.maxPixels);
    img = resizeWith(backendOf(spec), rgb, target.width, target.height, spec.resample);
    if (target.height !== rgb.height || target.width !== rgb.width)
      resize = { height: target.height, width: target.width };
  } else if (rgb.height % factor !== 0 || rgb.width % factor !== 0) {
    throw new BadInputError(
      `with do_resize false the image sides must be multiples of ${factor}, got ${rgb.width}x${rgb.height}`,
      { hint: 'set do_resize true in preprocessor_config.json or crop the image' },
    );
  }
  const H = img.height;
  const W = img.width;
  const plane = H * W;
  const chw = new Float32Array(3 * plane); // [3, H, W]
  toPixelValuesWith(
    backendOf(spec),
    img,
    {
      doRescale: spec.doRescale,
      rescaleFactor: spec.rescaleFactor,
      doNormalize: spec.doNormalize,
      mean: spec.imageMean,
      std: spec.imageStd,
    },
    chw,
  );
  const cropsUint8 = new Uint8Array(3 * plane); // [1, 3, H, W]
  toChw(img, cropsUint8);

  const gh = H / p;
  const gw = W / p;
  const rowLen = 3 * T * p * p; // C*T*p*p
  const rows = gh * gw; // grid_t = 1: one image tiled T times
  const pixelValues = new Float32Array(rows * rowLen); // [rows, C*T*p*p]
  let o = 0;
  for (let bh = 0; bh < gh / m; bh++) {
    for (let bw = 0; bw < gw / m; bw++) {
      for (let mh = 0; mh < m; mh++) {
        for (let mw = 0; mw < m; mw++) {
          const y0 = (bh * m + mh) * p;
          const x0 = (bw * m + mw) * p;
          for (let c = 0; c < 3; c++) {
            for (let t = 0; t < T; t++) {
              for (let py = 0; py < p; py++) {
                const src = c * plane + (y0 + py) * W + x0;
                for (let px = 0; px < p; px++) pixelValues[o++] = chw[src + px];
              }
            }
          }
        }
      }
    }
  }
  const crop: CropGeometry = {
    index: 0,
    view: 'base',
    gridRow: -1,
    gridCol: -1,
    region: { top: 0, left: 0, height: image.height, width: image.width },
    resize,
    centerCrop: null,
    height: H,
    width: W,
    // Pillow maps pixel edges to edges, so the resized frame scales back onto the original.
    toOriginal: { sx: image.width / W, sy: image.height / H, tx: 0, ty: 0 },
  };
  return {
    cropsUint8,
    pixelValues,
    shape: [rows, rowLen],
    geometry: { image, crops: [crop], anyres: null },
  };
}

export const QWEN2VL_PROCESSOR: ProcessorDef<Qwen2VLProcessorSpec> = {
  type: 'Qwen2VLImageProcessor',
  parse: parseQwen2VLProcessorConfig,
  run: qwen2vlPreprocess,
};
