/**
 * HF image processors: typed preprocessor_config.json parsing with the class defaults, and the pixel pipelines.
 *   CLIPImageProcessor       resize (shortest edge) -> center crop -> rescale -> normalize -> CHW
 *   LlavaNextImageProcessor  "anyres": best grid resolution -> aspect-preserving resize -> centred black padding ->
 *                            crops = [whole image squashed to a square] + grid crops row-major, each through the CLIP steps
 * References (transformers v4.45.1, e71a01a104dd663c730e494eb0b6467bb51df357):
 *   models/clip/image_processing_clip.py, models/llava_next/image_processing_llava_next.py,
 *   image_processing_utils.py (select_best_resolution), image_transforms.py (get_resize_output_image_size, resize).
 * Every pipeline also returns the geometry of each crop: an axis-aligned map from the crop's pixel frame back to the original
 * image, which src/arch/layout.ts turns into token boxes.
 */
import { CheckpointError, UnsupportedModelError } from '../errors.js';
import { ConfigReader, type Json } from '../arch/config.js';
import type { RgbImage } from '../types.js';
import { PIL_RESAMPLE_CODES, resizePillow, type ResampleFilter } from './resize.js';
import { parseSiglipProcessorConfig } from './siglip.js';
import { qwen2vlPreprocess, type Qwen2VLProcessorSpec } from './qwen2vl.js';
import {
  centerCropWindow,
  cropImage,
  padImage,
  toChw,
  toPixelValues,
  type CropWindow,
  type Padding,
  type Size,
} from './transforms.js';

// ---------------------------------------------------------------- specs

/** transformers' size dict: {"shortest_edge"} (aspect kept) or {"height","width"} (exact). */
export type SizeSpec = { shortestEdge: number; longestEdge?: number } | { height: number; width: number };

/** Fields shared by CLIP-style processors (BaseImageProcessor + CLIPImageProcessor). */
export interface ClipProcessorSpec {
  kind: 'clip';
  /** image_processor_type as written (or the class whose defaults were applied). */
  processorClass: string;
  doResize: boolean;
  size: SizeSpec;
  resample: ResampleFilter;
  doCenterCrop: boolean;
  cropSize: Size;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  doConvertRgb: boolean;
}

/**
 * Where the odd pixel of the anyres padding goes. transformers 4.45 pads floor(diff/2) on BOTH sides, so the padded
 * image is 1 px short when diff is odd ('floor-both'); PR #37819 (~v4.52) puts the extra pixel bottom/right.
 */
export type OddPadding = 'floor-both' | 'extra-bottom-right';

export interface LlavaNextProcessorSpec extends Omit<ClipProcessorSpec, 'kind'> {
  kind: 'llava_next';
  /** [height, width] pairs. */
  gridPinpoints: Array<[number, number]>;
  /** do_pad pads the NUMBER of crops across a batch; irrelevant for one image and kept only for completeness. */
  doPad: boolean;
  oddPadding: OddPadding;
}

/** The CLIP-style processors parseProcessorConfig reads (resize, optional center crop, optional anyres grid). */
export type ClipFamilyProcessorSpec = ClipProcessorSpec | LlavaNextProcessorSpec;
/** Every processor `preprocess` runs (plain data, so it can be posted to a worker thread). */
export type ProcessorSpec = ClipFamilyProcessorSpec | Qwen2VLProcessorSpec;

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

/** LlavaNextImageProcessor.__init__ defaults: CLIP's plus the pinpoints and do_pad. */
export const LLAVA_NEXT_PROCESSOR_DEFAULTS = {
  ...CLIP_PROCESSOR_DEFAULTS,
  gridPinpoints: [
    [336, 672],
    [672, 336],
    [672, 672],
    [1008, 336],
    [336, 1008],
  ] as Array<[number, number]>,
  doPad: true,
};

const SUPPORTED_PROCESSORS = ['CLIPImageProcessor', 'LlavaNextImageProcessor', 'SiglipImageProcessor'];

/**
 * Parses preprocessor_config.json. `where` names the file in errors. Values the file omits get the class defaults.
 * `oddPadding` selects the transformers behaviour to mirror (default 4.45's 'floor-both').
 */
export function parseProcessorConfig(
  raw: Json,
  where = 'preprocessor_config.json',
  opts: { oddPadding?: OddPadding } = {},
): ClipFamilyProcessorSpec {
  const r = new ConfigReader(raw, where);
  const cls = r.has('image_processor_type')
    ? r.str('image_processor_type')
    : r.str('feature_extractor_type', 'CLIPImageProcessor');
  // SiglipImageProcessor (src/image/siglip.ts): CLIP's pipeline without the center crop, its own defaults.
  if (cls === 'SiglipImageProcessor') return parseSiglipProcessorConfig(raw, where);
  const d = CLIP_PROCESSOR_DEFAULTS;
  const resample = readResample(r, d.resample);
  let size = parseSize(r, 'size', d.size, false);
  // CLIPImageProcessor.__init__: the legacy use_square_size flag turns shortest_edge into a square.
  if (r.bool('use_square_size', false) && 'shortestEdge' in size) {
    size = { height: size.shortestEdge, width: size.shortestEdge };
  }
  const cropSpec = parseSize(r, 'crop_size', d.cropSize, true);
  if (!('height' in cropSpec)) throw new CheckpointError(`${where}: crop_size must have height and width`);
  const common = {
    processorClass: cls,
    doResize: r.bool('do_resize', true),
    size,
    resample,
    doCenterCrop: r.bool('do_center_crop', d.doCenterCrop),
    cropSize: { height: cropSpec.height, width: cropSpec.width },
    ...readPixelNorm(r, d),
  };
  if (cls === 'CLIPImageProcessor' || cls === 'CLIPFeatureExtractor') return { kind: 'clip', ...common };
  if (cls === 'LlavaNextImageProcessor') {
    const pins = r.raw['image_grid_pinpoints'] ?? LLAVA_NEXT_PROCESSOR_DEFAULTS.gridPinpoints;
    return {
      kind: 'llava_next',
      ...common,
      gridPinpoints: parsePinpoints(pins, `${where} → image_grid_pinpoints`),
      doPad: r.bool('do_pad', LLAVA_NEXT_PROCESSOR_DEFAULTS.doPad),
      oddPadding: opts.oddPadding ?? 'floor-both',
    };
  }
  throw new UnsupportedModelError(`${where}: image processor "${cls}" is not supported`, {
    hint: `supported image processors: ${SUPPORTED_PROCESSORS.join(', ')}`,
  });
}

/** get_size_dict: an int is {"shortest_edge": n} (default_to_square=false) or {"height": n, "width": n} (true). */
function parseSize(r: ConfigReader, key: string, dflt: SizeSpec, defaultToSquare: boolean): SizeSpec {
  const v = r.raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v <= 0)
      throw new CheckpointError(`${r.where}: "${key}" must be a positive integer`);
    return defaultToSquare ? { height: v, width: v } : { shortestEdge: v };
  }
  const s = r.sub(key);
  if (s.has('shortest_edge')) {
    const out: SizeSpec = { shortestEdge: s.posInt('shortest_edge') };
    if (s.has('longest_edge')) out.longestEdge = s.posInt('longest_edge');
    return out;
  }
  if (s.has('height') && s.has('width')) return { height: s.posInt('height'), width: s.posInt('width') };
  throw new CheckpointError(
    `${r.where}: "${key}" must have "shortest_edge" or "height" and "width", got ${JSON.stringify(v)}`,
  );
}

/** `resample` (a PIL code) as a filter; nearest and unknown codes are refused. */
export function readResample(r: ConfigReader, dflt: number): ResampleFilter {
  const code = r.int('resample', dflt);
  const resample = PIL_RESAMPLE_CODES[code];
  if (resample === undefined || resample === 'nearest') {
    throw new UnsupportedModelError(
      `${r.where}: resample ${code} (${resample ?? 'unknown'}) is not supported`,
      {
        hint: 'supported: 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming',
      },
    );
  }
  return resample;
}

/** The rescale / normalize / RGB fields every image processor shares, with the class's defaults. */
export function readPixelNorm(
  r: ConfigReader,
  d: {
    doRescale?: boolean;
    rescaleFactor: number;
    doNormalize?: boolean;
    imageMean: [number, number, number];
    imageStd: [number, number, number];
    doConvertRgb?: boolean;
  },
): Pick<
  ClipProcessorSpec,
  'doRescale' | 'rescaleFactor' | 'doNormalize' | 'imageMean' | 'imageStd' | 'doConvertRgb'
> {
  return {
    doRescale: r.bool('do_rescale', d.doRescale ?? true),
    rescaleFactor: r.num('rescale_factor', d.rescaleFactor),
    doNormalize: r.bool('do_normalize', d.doNormalize ?? true),
    imageMean: triple(r, 'image_mean', d.imageMean),
    imageStd: triple(r, 'image_std', d.imageStd),
    doConvertRgb: r.bool('do_convert_rgb', d.doConvertRgb ?? true),
  };
}

function triple(r: ConfigReader, key: string, dflt: [number, number, number]): [number, number, number] {
  const v = r.raw[key];
  if (typeof v === 'number') return [v, v, v]; // a scalar mean/std applies to every channel
  const a = r.numArray(key, dflt);
  if (a.length !== 3) throw new CheckpointError(`${r.where}: "${key}" must have 3 values, got ${a.length}`);
  return [a[0], a[1], a[2]];
}

export function parsePinpoints(v: unknown, where: string): Array<[number, number]> {
  const ok =
    Array.isArray(v) &&
    v.length > 0 &&
    v.every(
      (p) =>
        Array.isArray(p) &&
        p.length === 2 &&
        p.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0),
    );
  if (!ok) throw new CheckpointError(`${where}: must be a non-empty list of [height, width] pairs`);
  return (v as number[][]).map((p) => [p[0], p[1]]);
}

// ---------------------------------------------------------------- geometry

/** An axis-aligned map from a crop's pixel frame (u, v) to original-image pixels: x = sx*u + tx, y = sy*v + ty. */
export interface AffineMap {
  sx: number;
  sy: number;
  tx: number;
  ty: number;
}

const IDENTITY: AffineMap = { sx: 1, sy: 1, tx: 0, ty: 0 };

/** outer ∘ inner: first map with `inner` (crop frame -> intermediate), then `outer` (intermediate -> original). */
export function composeAffine(outer: AffineMap, inner: AffineMap): AffineMap {
  return {
    sx: outer.sx * inner.sx,
    sy: outer.sy * inner.sy,
    tx: outer.sx * inner.tx + outer.tx,
    ty: outer.sy * inner.ty + outer.ty,
  };
}

/** The frame of a resized image -> the frame it was resized from (Pillow samples at (x + 0.5) * in/out: edges map to edges). */
function resizeMap(from: Size, to: Size): AffineMap {
  return { sx: from.width / to.width, sy: from.height / to.height, tx: 0, ty: 0 };
}

function offsetMap(top: number, left: number): AffineMap {
  return { sx: 1, sy: 1, tx: left, ty: top };
}

export interface CropGeometry {
  /** Index in pixel_values (0 = base for anyres). */
  index: number;
  view: 'base' | 'grid';
  /** Position in the anyres grid; -1 for the base view. */
  gridRow: number;
  gridCol: number;
  /** Grid crops: the window cut from the padded image (edge crops may be short). Base view: the whole original image. */
  region: CropWindow;
  /** The per-crop resize (null when skipped or a same-size copy) and center crop (null when skipped). */
  resize: Size | null;
  centerCrop: CropWindow | null;
  /** Final size = the model input's H, W. */
  height: number;
  width: number;
  /** Crop pixel frame -> original image pixels. */
  toOriginal: AffineMap;
}

export interface AnyresGeometry {
  pinpoints: Array<[number, number]>;
  bestResolution: Size;
  rows: number;
  cols: number;
  /** Side of a grid crop in the padded image (crop_size.height). */
  cropSide: number;
  /** The aspect-preserving resize, then the padding around it. */
  resized: Size;
  pad: Padding;
  padded: Size;
  /** True when this image hit the 4.45 odd-padding quirk (padded image 1 px short). */
  oddPaddingQuirk: boolean;
  /** The base view's square resize. */
  baseSize: Size;
}

export interface PreprocessGeometry {
  image: Size;
  crops: CropGeometry[];
  anyres: AnyresGeometry | null;
}

export interface PreprocessResult {
  /** [crops, 3, H, W] uint8: the crops after resizing/cropping, before rescale/normalize. */
  cropsUint8: Uint8Array;
  /** [crops, 3, H, W] float32: the model input. */
  pixelValues: Float32Array;
  /** [crops, 3, H, W]; Qwen2-VL: [patches, C * T * p * p] (src/image/qwen2vl.ts). */
  shape: number[];
  geometry: PreprocessGeometry;
}

// ---------------------------------------------------------------- CLIP

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

type ClipSteps = Omit<ClipProcessorSpec, 'kind' | 'processorClass'>;

/** CLIPImageProcessor's per-image steps up to the uint8 crop (resize, center crop), with the crop -> input frame map. */
function clipGeometricSteps(
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
    cur = resizePillow(img, target.width, target.height, { filter: spec.resample });
  }
  let centerCrop: CropWindow | null = null;
  if (spec.doCenterCrop) {
    centerCrop = centerCropWindow(cur, spec.cropSize);
    cur = cropImage(cur, centerCrop);
    toInput = composeAffine(toInput, offsetMap(centerCrop.top, centerCrop.left));
  }
  return { out: cur, resize, centerCrop, toInput };
}

/** Stacks equally sized uint8 crops into [n, 3, H, W] uint8 and float32 pixel values. */
function stack(crops: RgbImage[], spec: ClipSteps, geometry: PreprocessGeometry): PreprocessResult {
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
    toPixelValues(c, norm, pixelValues, i * per);
  });
  return { cropsUint8, pixelValues, shape: [crops.length, 3, height, width], geometry };
}

/** CLIPImageProcessor.preprocess for one RGB image: pixel_values [1, 3, H, W]. */
export function clipPreprocess(
  rgb: RgbImage,
  spec: ClipProcessorSpec | LlavaNextProcessorSpec,
): PreprocessResult {
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

// ---------------------------------------------------------------- anyres (LLaVA-NeXT)

/**
 * image_processing_utils.select_best_resolution: the pinpoint (h, w) that keeps the most of the original resolution
 * (effective = min(int(w*s) * int(h*s), w*h), s = min(W/w, H/h)), ties broken by the least waste, then by list order.
 */
export function selectBestResolution(img: Size, pinpoints: ReadonlyArray<readonly [number, number]>): Size {
  let best: Size | null = null;
  let maxEffective = 0;
  let minWasted = Infinity;
  for (const [height, width] of pinpoints) {
    const scale = Math.min(width / img.width, height / img.height);
    const dw = Math.trunc(img.width * scale);
    const dh = Math.trunc(img.height * scale);
    const effective = Math.min(dw * dh, img.width * img.height);
    const wasted = width * height - effective;
    if (effective > maxEffective || (effective === maxEffective && wasted < minWasted)) {
      maxEffective = effective;
      minWasted = wasted;
      best = { height, width };
    }
  }
  if (!best) throw new CheckpointError('image_grid_pinpoints is empty');
  return best;
}

/** image_processing_llava_next._get_patch_output_size: fit inside target keeping the aspect ratio, math.ceil on the free side. */
export function patchOutputSize(img: Size, target: Size): Size {
  const scaleW = target.width / img.width;
  const scaleH = target.height / img.height;
  if (scaleW < scaleH) {
    return { width: target.width, height: Math.min(Math.ceil(img.height * scaleW), target.height) };
  }
  return { height: target.height, width: Math.min(Math.ceil(img.width * scaleH), target.width) };
}

/** The anyres geometry for an image of `img` size: grid, resize, padding (no pixels touched). */
export function anyresGeometry(img: Size, spec: LlavaNextProcessorSpec): AnyresGeometry {
  const best = selectBestResolution(img, spec.gridPinpoints);
  const side = spec.cropSize.height; // get_image_patches(patch_size=crop_size["height"])
  const resized = patchOutputSize(img, best);
  const dh = best.height - resized.height;
  const dw = best.width - resized.width;
  // _pad_for_patching: paste = diff // 2, padded ((paste_y, paste_y), (paste_x, paste_x)) in 4.45.
  const top = Math.floor(dh / 2);
  const left = Math.floor(dw / 2);
  const pad: Padding =
    spec.oddPadding === 'floor-both'
      ? { top, bottom: top, left, right: left }
      : { top, bottom: dh - top, left, right: dw - left };
  const padded = {
    height: resized.height + pad.top + pad.bottom,
    width: resized.width + pad.left + pad.right,
  };
  const ss =
    'shortestEdge' in spec.size ? spec.size.shortestEdge : Math.min(spec.size.height, spec.size.width);
  return {
    pinpoints: spec.gridPinpoints,
    bestResolution: best,
    // divide_to_patches steps over range(0, size, patch): a 1 px short padded image still gives the full count.
    rows: Math.ceil(padded.height / side),
    cols: Math.ceil(padded.width / side),
    cropSide: side,
    resized,
    pad,
    padded,
    oddPaddingQuirk: padded.height !== best.height || padded.width !== best.width,
    baseSize: { height: ss, width: ss },
  };
}

/**
 * LlavaNextImageProcessor.preprocess for one RGB image: pixel_values [1 + rows*cols, 3, H, W]; crop 0 is the whole image
 * resized to a square (aspect NOT kept), then the grid crops row-major; every crop then runs the CLIP steps.
 */
export function anyresPreprocess(rgb: RgbImage, spec: LlavaNextProcessorSpec): PreprocessResult {
  const image = { height: rgb.height, width: rgb.width };
  const a = anyresGeometry(image, spec);
  const stage: RgbImage[] = [];
  const regions: CropWindow[] = [];
  const stageToOriginal: AffineMap[] = [];

  // get_image_patches: resized_original_image = resize(image, (ss, ss)) is crop 0.
  stage.push(resizePillow(rgb, a.baseSize.width, a.baseSize.height, { filter: spec.resample }));
  regions.push({ top: 0, left: 0, height: image.height, width: image.width });
  stageToOriginal.push(resizeMap(image, a.baseSize));

  const resized = resizePillow(rgb, a.resized.width, a.resized.height, { filter: spec.resample });
  const padded = padImage(resized, a.pad);
  // padded frame -> resized frame -> original
  const paddedToOriginal = composeAffine(resizeMap(image, a.resized), offsetMap(-a.pad.top, -a.pad.left));
  for (let r = 0; r < a.rows; r++) {
    for (let c = 0; c < a.cols; c++) {
      // divide_to_patches: numpy slicing, so edge crops are cut short by a short padded image.
      const top = r * a.cropSide;
      const left = c * a.cropSide;
      const win = {
        top,
        left,
        height: Math.min(a.cropSide, padded.height - top),
        width: Math.min(a.cropSide, padded.width - left),
      };
      stage.push(cropImage(padded, win));
      regions.push(win);
      stageToOriginal.push(composeAffine(paddedToOriginal, offsetMap(top, left)));
    }
  }

  const crops: CropGeometry[] = [];
  const outs: RgbImage[] = [];
  stage.forEach((s, i) => {
    const g = clipGeometricSteps(s, spec);
    outs.push(g.out);
    crops.push({
      index: i,
      view: i === 0 ? 'base' : 'grid',
      gridRow: i === 0 ? -1 : Math.floor((i - 1) / a.cols),
      gridCol: i === 0 ? -1 : (i - 1) % a.cols,
      region: regions[i],
      resize: g.resize,
      centerCrop: g.centerCrop,
      height: g.out.height,
      width: g.out.width,
      toOriginal: composeAffine(stageToOriginal[i], g.toInput),
    });
  });
  return stack(outs, spec, { image, crops, anyres: a });
}

/** Dispatches on the processor kind. */
export function preprocess(rgb: RgbImage, spec: ProcessorSpec): PreprocessResult {
  if (spec.kind === 'qwen2_vl') return qwen2vlPreprocess(rgb, spec);
  return spec.kind === 'llava_next' ? anyresPreprocess(rgb, spec) : clipPreprocess(rgb, spec);
}
