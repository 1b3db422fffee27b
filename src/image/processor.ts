/**
 * What every image processor shares: the plain-data spec it is parsed into (so batch mode can post it to a worker
 * thread), the geometry it returns beside the pixels (each crop's map back onto the original image, which the token
 * layout turns into boxes), the config readers every HF processor class uses, and the ProcessorDef contract.
 * A ProcessorDef is one HF image processor class (`image_processor_type`): shared ones live in src/image (CLIP,
 * SigLIP), family-specific ones in their family's folder; src/families/index.ts registers them all by type.
 * References (transformers v4.45.1, e71a01a104dd663c730e494eb0b6467bb51df357): image_processing_utils.py
 * (get_size_dict), image_utils.py (PILImageResampling), each processor's __init__ for its defaults.
 */
import { ConfigReader, type Json } from '../config/reader.js';
import { CheckpointError, UnsupportedModelError } from '../errors.js';
import type { RgbImage, ViewName } from '../types.js';
import { PIL_RESAMPLE_CODES, type ResampleFilter } from './resize.js';
import type { CropWindow, Padding, Size } from './transforms.js';

// ---------------------------------------------------------------- the contract

/** A parsed preprocessor_config.json: plain data whose `type` names the ProcessorDef that runs it. */
export interface ProcessorSpec {
  /** The registered image_processor_type (the ProcessorDef's `type`). */
  type: string;
  /** image_processor_type as written in the file (or the class whose defaults were applied). */
  processorClass: string;
}

/** One HF image processor class. */
export interface ProcessorDef<S extends ProcessorSpec = ProcessorSpec> {
  /** image_processor_type, e.g. "CLIPImageProcessor". */
  type: string;
  /** Other names files use for the same class (e.g. the legacy feature_extractor_type "CLIPFeatureExtractor"). */
  aliases?: readonly string[];
  /** preprocessor_config.json -> spec, with the class's defaults for what the file omits; `where` names the file. */
  parse(raw: Json, where: string): S;
  /** One RGB image -> pixel_values and the crops' geometry. */
  run(rgb: RgbImage, spec: S): PreprocessResult;
}

/** The class a preprocessor_config.json names: image_processor_type, else feature_extractor_type, else `fallback`. */
export function processorClassOf(raw: Json, where: string, fallback: string): string {
  const r = new ConfigReader(raw, where);
  return r.has('image_processor_type')
    ? r.str('image_processor_type')
    : r.str('feature_extractor_type', fallback);
}

/**
 * Parses `raw` with the def among `defs` that its class names (`fallback` when the file names none); any other
 * class fails with the list of accepted ones.
 */
export function parseWith(
  raw: Json,
  where: string,
  defs: readonly ProcessorDef[],
  fallback: string,
  forWhat = 'this model',
): ProcessorSpec {
  const cls = processorClassOf(raw, where, fallback);
  const def = defs.find((d) => d.type === cls || d.aliases?.includes(cls));
  if (!def) {
    throw new UnsupportedModelError(`${where}: image processor "${cls}" is not supported`, {
      hint: `supported image processors for ${forWhat}: ${defs.map((d) => d.type).join(', ')}`,
    });
  }
  return def.parse(raw, where);
}

// ---------------------------------------------------------------- config readers

/** transformers' size dict: {"shortest_edge"} (aspect kept) or {"height","width"} (exact). */
export type SizeSpec = { shortestEdge: number; longestEdge?: number } | { height: number; width: number };

/** The rescale / normalize / RGB settings every image processor has. */
export interface PixelNorm {
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  doConvertRgb: boolean;
}

/** get_size_dict: an int is {"shortest_edge": n} (default_to_square=false) or {"height": n, "width": n} (true). */
export function parseSize(r: ConfigReader, key: string, dflt: SizeSpec, defaultToSquare: boolean): SizeSpec {
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
): PixelNorm {
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

export const IDENTITY: AffineMap = { sx: 1, sy: 1, tx: 0, ty: 0 };

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
export function resizeMap(from: Size, to: Size): AffineMap {
  return { sx: from.width / to.width, sy: from.height / to.height, tx: 0, ty: 0 };
}

export function offsetMap(top: number, left: number): AffineMap {
  return { sx: 1, sy: 1, tx: left, ty: top };
}

export interface CropGeometry {
  /** Index in pixel_values (0 = base for anyres). */
  index: number;
  view: ViewName;
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

/** A square tile of `side` px cut from a canvas (tiling processors: Idefics3, InternVL): no per-crop resize or crop. */
export function tileGeometry(
  index: number,
  view: ViewName,
  gridRow: number,
  gridCol: number,
  region: CropWindow,
  toOriginal: AffineMap,
  side: number,
): CropGeometry {
  return {
    index,
    view,
    gridRow,
    gridCol,
    region,
    resize: null,
    centerCrop: null,
    height: side,
    width: side,
    toOriginal,
  };
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
  /** pixel_values' shape: [crops, 3, H, W], or the family's own (Qwen2-VL: [patches, C * T * p * p]). */
  shape: number[];
  geometry: PreprocessGeometry;
}
