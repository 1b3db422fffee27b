/**
 * GotOcr2ImageProcessor as InternVLProcessor runs it (transformers 5.12.1 models/got_ocr2/image_processing_got_ocr2.py,
 * models/internvl/processing_internvl.py), registered by the internvl family (src/families/internvl/index.ts):
 *   1. convert_to_rgb (alpha dropped: src/image/decode.ts);
 *   2. crop_to_patches is FORCED true by InternVLProcessor._defaults (the saved `crop_to_patches: false` is what the
 *      image processor alone would use: one squashed T x T tile);
 *   3. grid: candidates (cols, rows) with min <= c*r <= max, generated cols-major then stable-sorted by c*r; walk
 *      them with d = |w/h - c/r|: a strictly smaller d wins; on an exact tie the later candidate wins only when
 *      w*h > 0.5 * T * T * c * r (get_optimal_tiled_canvas);
 *   4. canvas = resize(original -> rows*T x cols*T) (aspect not kept), row-major tiles, then ONLY when the grid has
 *      more than one tile the thumbnail = resize(original -> T x T), last;
 *   5. rescale + normalize per backend, as Idefics3's; pixel_values [n_tiles, 3, T, T].
 * Resample: BICUBIC (3) by default, Pillow-exact on the PIL backend, torch's uint8 antialiased kernel on torchvision.
 */
import type { ImageBackend } from '../../api.js';
import { ConfigReader, type Json } from '../../config/reader.js';
import { UnsupportedModelError } from '../../errors.js';
import {
  readPixelNorm,
  readResample,
  tileGeometry,
  type AffineMap,
  type CropGeometry,
  type PixelNorm,
  type PreprocessResult,
  type ProcessorDef,
} from '../../image/processor.js';
import { resizePillow, type ResampleFilter } from '../../image/resize.js';
import { resizeTorchvision, toPixelValuesFused } from '../../image/resize-torch.js';
import { cropImage, toChw, toPixelValues, type Size } from '../../image/transforms.js';
import type { RgbImage } from '../../types.js';

export interface GotOcr2ProcessorSpec extends PixelNorm {
  type: 'GotOcr2ImageProcessor';
  processorClass: string;
  /** Tile side T (size.height = size.width). */
  tile: number;
  minPatches: number;
  maxPatches: number;
  resample: ResampleFilter;
  /** As saved; InternVLProcessor overrides it with true (see the header). */
  cropToPatchesSaved: boolean;
  backend: ImageBackend;
}

/** GotOcr2ImageProcessor.__init__ defaults (size 384, BICUBIC, min 1 / max 12 patches, OpenAI CLIP mean/std). */
export const GOT_OCR2_DEFAULTS = {
  tile: 384,
  minPatches: 1,
  maxPatches: 12,
  resample: 3,
  rescaleFactor: 1 / 255,
  imageMean: [0.48145466, 0.4578275, 0.40821073] as [number, number, number],
  imageStd: [0.26862954, 0.26130258, 0.27577711] as [number, number, number],
};

export function parseGotOcr2ProcessorConfig(
  raw: Json,
  where: string,
  backend: ImageBackend,
): GotOcr2ProcessorSpec {
  const r = new ConfigReader(raw, where);
  const d = GOT_OCR2_DEFAULTS;
  let tile = d.tile;
  if (r.has('size')) {
    const s = r.sub('size');
    tile = s.posInt('height');
    if (s.posInt('width') !== tile) {
      throw new UnsupportedModelError(`${where}: size must be square, got ${JSON.stringify(raw['size'])}`);
    }
  }
  return {
    type: 'GotOcr2ImageProcessor',
    processorClass: r.str('image_processor_type', 'GotOcr2ImageProcessor'),
    tile,
    minPatches: r.posInt('min_patches', d.minPatches),
    maxPatches: r.posInt('max_patches', d.maxPatches),
    resample: readResample(r, d.resample),
    cropToPatchesSaved: r.bool('crop_to_patches', false),
    ...readPixelNorm(r, d),
    backend,
  };
}

/** get_all_supported_aspect_ratios: (cols, rows), cols-major, stable-sorted by area. */
export function gridCandidates(minPatches: number, maxPatches: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let c = 1; c <= maxPatches; c++) {
    for (let r = 1; r <= maxPatches; r++) {
      if (c * r <= maxPatches && c * r >= minPatches) out.push([c, r]);
    }
  }
  return out.sort((a, b) => a[0] * a[1] - b[0] * b[1]); // Array.prototype.sort is stable
}

/** get_optimal_tiled_canvas: the (cols, rows) grid for an image. */
export function optimalGrid(img: Size, spec: GotOcr2ProcessorSpec): { cols: number; rows: number } {
  const aspect = img.width / img.height;
  const area = img.width * img.height;
  let best: [number, number] = [1, 1];
  let bestDiff = Infinity;
  for (const g of gridCandidates(spec.minPatches, spec.maxPatches)) {
    const diff = Math.abs(aspect - g[0] / g[1]);
    if (diff < bestDiff) {
      bestDiff = diff;
      best = g;
    } else if (diff === bestDiff && area > 0.5 * spec.tile * spec.tile * g[0] * g[1]) {
      best = g;
    }
  }
  return { cols: best[0], rows: best[1] };
}

export interface GotOcr2Preprocess extends PreprocessResult {
  /** [n_tiles, 3, T, T]. */
  pixelValues: Float32Array;
  shape: [number, number, number, number];
  rows: number;
  cols: number;
  thumbnail: boolean;
  tiles: RgbImage[];
}

/**
 * Steps 2-5 for one RGB image. `cropToPatches` defaults to true, as InternVLProcessor forces it; false is what the
 * image processor alone does with the saved setting (one squashed T x T tile), kept for the pitfall test.
 */
export function gotOcr2Preprocess(
  rgb: RgbImage,
  spec: GotOcr2ProcessorSpec,
  opts: { cropToPatches?: boolean } = {},
): GotOcr2Preprocess {
  const T = spec.tile;
  const resize = (img: RgbImage, w: number, h: number): RgbImage =>
    spec.backend === 'pil'
      ? resizePillow(img, w, h, { filter: spec.resample })
      : resizeTorchvision(img, w, h, spec.resample);
  const { cols, rows } =
    opts.cropToPatches === false
      ? { cols: 1, rows: 1 }
      : optimalGrid({ width: rgb.width, height: rgb.height }, spec);
  const canvas = resize(rgb, cols * T, rows * T);
  const tiles: RgbImage[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      tiles.push(cropImage(canvas, { top: r * T, left: c * T, height: T, width: T }));
  }
  const thumbnail = rows * cols > 1;
  if (thumbnail) tiles.push(resize(rgb, T, T));
  // Geometry: grid tiles map through the canvas resize (edge to edge: one anisotropic scale) onto the original; the
  // thumbnail's T x T frame spans the whole image.
  const image = { width: rgb.width, height: rgb.height };
  const sx = image.width / (cols * T);
  const sy = image.height / (rows * T);
  const crops: CropGeometry[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const region = { top: r * T, left: c * T, height: T, width: T };
      const toOriginal: AffineMap = { sx, sy, tx: c * T * sx, ty: r * T * sy };
      crops.push(tileGeometry(crops.length, thumbnail ? 'grid' : 'base', r, c, region, toOriginal, T));
    }
  }
  if (thumbnail) {
    const whole = { top: 0, left: 0, height: image.height, width: image.width };
    const map: AffineMap = { sx: image.width / T, sy: image.height / T, tx: 0, ty: 0 };
    crops.push(tileGeometry(crops.length, 'base', -1, -1, whole, map, T));
  }
  const per = 3 * T * T;
  const cropsUint8 = new Uint8Array(tiles.length * per);
  const pixelValues = new Float32Array(tiles.length * per);
  const norm = { rescaleFactor: spec.rescaleFactor, mean: spec.imageMean, std: spec.imageStd };
  tiles.forEach((t, i) => {
    toChw(t, cropsUint8, i * per);
    if (spec.backend === 'torchvision' && spec.doRescale && spec.doNormalize) {
      toPixelValuesFused(t, norm, pixelValues, i * per);
    } else {
      toPixelValues(
        t,
        { ...norm, doRescale: spec.doRescale, doNormalize: spec.doNormalize },
        pixelValues,
        i * per,
      );
    }
  });
  return {
    cropsUint8,
    pixelValues,
    shape: [tiles.length, 3, T, T],
    geometry: { image, crops, anyres: null },
    rows,
    cols,
    thumbnail,
    tiles,
  };
}

/**
 * The registered class (`GotOcr2ImageProcessorPil` is the PIL backend's name, `GotOcr2ImageProcessorFast` the 4.x
 * torchvision one: the same settings). parse() gives the torchvision backend, what transformers 5's AutoProcessor
 * picks; the family sets `backend` from LoadOptions.imageBackend.
 */
export const GOT_OCR2_PROCESSOR: ProcessorDef<GotOcr2ProcessorSpec> = {
  type: 'GotOcr2ImageProcessor',
  aliases: ['GotOcr2ImageProcessorPil', 'GotOcr2ImageProcessorFast'],
  parse: (raw, where) => parseGotOcr2ProcessorConfig(raw, where, 'torchvision'),
  run: (rgb, spec) => gotOcr2Preprocess(rgb, spec),
};
