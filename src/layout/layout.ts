/**
 * The token layout: for every image token the LLM receives, where its vector comes from (crop + row of that crop's
 * feature matrix, or the newline vector) and which rectangle of the ORIGINAL image it covers. Packing the features is then
 * a gather driven by the layout (`packFeatures`), so the layout and the packed features cannot disagree.
 *
 *   single view (LLaVA-1.5 style):   [cls?] + rows x cols patches of crop 0, raster order
 *   anyres (LLaVA-NeXT):             base view (crop 0, no newline), then the grid crops' feature map, un-padded, raster order,
 *                                    with one newline token after every row
 *   anyres_max_N (LLaVA-OneVision):  as anyres, but an un-padded map larger than about N crops is bilinearly resized
 *                                    first; its grid tokens are the resized map's cells (the packer interpolates)
 * References (transformers v4.45.1, e71a01a104dd663c730e494eb0b6467bb51df357): models/llava_next/modeling_llava_next.py
 * (LlavaNextForConditionalGeneration.pack_image_features, unpad_image, get_anyres_image_grid_shape).
 * Special tokens (`<row_1_col_2>`, `<global-img>`, `<img>`, boi/eoi): text tokens a family places between rows or
 * tiles are not image tokens; the layout lists them in `specials` (src/layout/tiles.ts builds tiled layouts).
 * Boxes come from the per-crop maps in the preprocessing geometry (src/image/processor.ts), so a center crop, a squashed
 * square base view, the aspect-preserving anyres resize and its padding are all accounted for; boxes are clipped to the image.
 */
import { MissingTensorError, UnsupportedModelError } from '../errors.js';
import type { Reference } from '../api.js';
import type { OddPadding } from '../image/anyres.js';
import type { AffineMap, CropGeometry, PreprocessGeometry } from '../image/processor.js';
import type { Size } from '../image/transforms.js';
import type { Box, LayoutToken, TokenLayout, ViewInfo } from '../types.js';
import { checkShape } from '../util/shape.js';

/** The tokens one crop yields, as a grid (e.g. 24 x 24 for CLIP-L/14 at 336 px), not counting a CLS token. */
export interface PatchGrid {
  rows: number;
  cols: number;
}

/**
 * How `unpad_image` computes the kept extent.
 *   'v4.45':  4.45.1 passes image_sizes[i] as int64 tensors, so the aspect ratios and scale are float32 tensor arithmetic,
 *             and new = int(original * scale) truncates.
 *   'round7': later versions convert image_sizes to Python ints and use int(round(original * scale, 7)) in float64.
 * Either way padding = (current - new) // 2 is cut from both ends, so one extra row/col survives when the difference is odd.
 */
export type UnpadRule = 'v4.45' | 'round7';

/**
 * The anyres rules of a transformers version (fixtures-modern README-v5-vs-v445): 4.45 pads an odd difference
 * floor(d/2) on both sides and un-pads with int(); 5.x pads floor(d/2) before and ceil(d/2) after (both backends)
 * and un-pads with int(round(x, 7)).
 */
export function anyresRules(reference: Reference = 'v5'): { oddPadding: OddPadding; unpad: UnpadRule } {
  return reference === 'v4'
    ? { oddPadding: 'floor-both', unpad: 'v4.45' }
    : { oddPadding: 'extra-bottom-right', unpad: 'round7' };
}

export interface LayoutOptions {
  /** 'full' feature strategy: the CLS token is kept first (single view only). */
  cls?: boolean;
  /** Append the newline token after each grid row (anyres; default true, as LLaVA-NeXT's image_newline). */
  newline?: boolean;
  unpad?: UnpadRule;
  /**
   * LLaVA-OneVision's `anyres_max_N` (N here): when the un-padded grid holds more than about N crops' worth of tokens
   * (ratio > 1.1), the packer bilinearly resizes it, and grid tokens are the cells of the resized map (see anyresGridShape).
   */
  anyresMax?: number;
}

/** Builds the layout for the geometry: anyres when the geometry has an anyres grid, else single view on crop 0. */
export function tokenLayout(
  geometry: PreprocessGeometry,
  grid: PatchGrid,
  opts: LayoutOptions = {},
): TokenLayout {
  return geometry.anyres ? anyresLayout(geometry, grid, opts) : singleViewLayout(geometry, grid, opts);
}

// ---------------------------------------------------------------- boxes

/** The ORIGINAL-image box of cell (r, c) when the crop's pixels are cut into a rows x cols grid. */
export function patchBox(crop: CropGeometry, grid: PatchGrid, r: number, c: number, image: Size): Box {
  const ph = crop.height / grid.rows;
  const pw = crop.width / grid.cols;
  return mapBox(crop.toOriginal, c * pw, r * ph, (c + 1) * pw, (r + 1) * ph, image);
}

/** The crop-frame rectangle [u0, u1) x [v0, v1) mapped onto the ORIGINAL image by `m`, clipped to it. */
export function mapBox(m: AffineMap, u0: number, v0: number, u1: number, v1: number, image: Size): Box {
  const clip = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  const x0 = clip(m.sx * u0 + m.tx, image.width);
  const x1 = clip(m.sx * u1 + m.tx, image.width);
  const y0 = clip(m.sy * v0 + m.ty, image.height);
  const y1 = clip(m.sy * v1 + m.ty, image.height);
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

function checkGrid(crop: CropGeometry, grid: PatchGrid): void {
  if (!(grid.rows > 0 && grid.cols > 0 && Number.isInteger(grid.rows) && Number.isInteger(grid.cols))) {
    throw new RangeError(`patch grid must be positive integers, got ${grid.rows}x${grid.cols}`);
  }
  if (crop.height % grid.rows !== 0 || crop.width % grid.cols !== 0) {
    throw new UnsupportedModelError(
      `a ${crop.width}x${crop.height} crop cannot be split into ${grid.cols}x${grid.rows} patches`,
      { hint: 'check the processor crop size against the vision tower image_size / patch_size' },
    );
  }
}

// ---------------------------------------------------------------- single view

/** Appends crop 0's rows x cols patch tokens in raster order; feature row = `firstRow` + r * cols + c. */
function pushBaseView(
  tokens: LayoutToken[],
  crop: CropGeometry,
  grid: PatchGrid,
  image: Size,
  firstRow: number,
): void {
  for (let r = 0; r < grid.rows; r++) {
    for (let c = 0; c < grid.cols; c++) {
      tokens.push({
        index: tokens.length,
        kind: 'patch',
        view: 'base',
        crop: 0,
        row: r,
        col: c,
        source: firstRow + r * grid.cols + c,
        box: patchBox(crop, grid, r, c, image),
      });
    }
  }
}

/** LLaVA-1.5 style: one crop, [CLS first when `cls`], then rows x cols patches in raster order. */
export function singleViewLayout(
  geometry: PreprocessGeometry,
  grid: PatchGrid,
  opts: LayoutOptions = {},
): TokenLayout {
  const crop = geometry.crops[0];
  checkGrid(crop, grid);
  const tokens: LayoutToken[] = [];
  const cls = opts.cls === true;
  if (cls) {
    tokens.push({ index: 0, kind: 'cls', view: 'base', crop: 0, row: -1, col: -1, source: 0, box: null });
  }
  pushBaseView(tokens, crop, grid, geometry.image, cls ? 1 : 0);
  const views: ViewInfo[] = [
    { name: 'base', rows: grid.rows, cols: grid.cols, start: 0, count: tokens.length },
  ];
  return { imageWidth: geometry.image.width, imageHeight: geometry.image.height, views, tokens };
}

// ---------------------------------------------------------------- anyres

/** Kept rows [top, bottom) and columns [left, right) of a current.height x current.width feature map (unpad_image). */
export interface UnpadExtent {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export function unpadExtent(original: Size, current: Size, rule: UnpadRule = 'v4.45'): UnpadExtent {
  const { height: oh, width: ow } = original;
  const { height: ch, width: cw } = current;
  const f = rule === 'v4.45' ? Math.fround : (x: number) => x;
  const toInt = rule === 'v4.45' ? Math.trunc : (x: number) => Math.trunc(Math.round(x * 1e7) / 1e7);
  if (f(ow / oh) > f(cw / ch)) {
    const newH = toInt(f(oh * f(cw / ow)));
    const pad = Math.floor((ch - newH) / 2);
    return { top: pad, bottom: ch - pad, left: 0, right: cw };
  }
  const newW = toInt(f(ow * f(ch / oh)));
  const pad = Math.floor((cw - newW) / 2);
  return { top: 0, bottom: ch, left: pad, right: cw - pad };
}

/**
 * LLaVA-NeXT packing order (pack_image_features, 4.45.1): the base crop's rows x cols tokens (no newline); then the grid
 * crops reshaped to one (gridRows*rows) x (gridCols*cols) map in raster order, un-padded to the original aspect ratio,
 * each kept row followed by a newline token. Grid tokens' row/col are in the un-padded map; a newline token has the row
 * it ends and col = the number of kept columns.
 */
export function anyresLayout(
  geometry: PreprocessGeometry,
  grid: PatchGrid,
  opts: LayoutOptions = {},
): TokenLayout {
  const a = geometry.anyres;
  if (!a) throw new RangeError('anyresLayout: the preprocessing geometry has no anyres grid');
  if (opts.cls) {
    // pack_image_features views each crop as (rows, cols) patches; with the CLS kept the view fails in transformers too.
    throw new UnsupportedModelError(
      'the "full" feature strategy (CLS kept) is not supported with anyres packing, as in transformers 4.45',
      { hint: 'use vision_feature_select_strategy "default" for LLaVA-NeXT checkpoints' },
    );
  }
  for (const c of geometry.crops) checkGrid(c, grid);
  const newline = opts.newline ?? true;
  const image = geometry.image;
  const tokens: LayoutToken[] = [];
  const base = geometry.crops[0];
  pushBaseView(tokens, base, grid, image, 0);
  const baseCount = tokens.length;
  const shape = anyresGridShape(geometry, grid, opts);
  if (shape.interpolated) {
    return interpolatedGridLayout(geometry, grid, shape, tokens, newline);
  }
  const keep = shape.keep;
  const keptCols = keep.right - keep.left;
  for (let gr = keep.top; gr < keep.bottom; gr++) {
    for (let gc = keep.left; gc < keep.right; gc++) {
      const cropIndex = 1 + Math.floor(gr / grid.rows) * a.cols + Math.floor(gc / grid.cols);
      const pr = gr % grid.rows;
      const pc = gc % grid.cols;
      tokens.push({
        index: tokens.length,
        kind: 'patch',
        view: 'grid',
        crop: cropIndex,
        row: gr - keep.top,
        col: gc - keep.left,
        source: pr * grid.cols + pc,
        box: patchBox(geometry.crops[cropIndex], grid, pr, pc, image),
      });
    }
    if (newline) {
      tokens.push({
        index: tokens.length,
        kind: 'newline',
        view: 'grid',
        crop: -1,
        row: gr - keep.top,
        col: keptCols,
        source: -1,
        box: null,
      });
    }
  }
  const views: ViewInfo[] = [
    { name: 'base', rows: grid.rows, cols: grid.cols, start: 0, count: baseCount },
    {
      name: 'grid',
      rows: keep.bottom - keep.top,
      cols: keptCols,
      start: baseCount,
      count: tokens.length - baseCount,
    },
  ];
  return { imageWidth: image.width, imageHeight: image.height, views, tokens };
}

/** The anyres grid map's kept extent, and its final size after OneVision's optional `anyres_max_N` down-sampling. */
export interface AnyresGridShape {
  keep: UnpadExtent;
  /** sqrt(kept rows * kept cols / (N * rows * cols)); 0 without anyresMax. */
  ratio: number;
  interpolated: boolean;
  /** The final map: the kept extent, or [int(h // ratio), int(w // ratio)] when interpolated. */
  rows: number;
  cols: number;
}

/**
 * modeling_llava_onevision.py (4.45.1) pack_image_features: ratio = math.sqrt(h * w / (max_num_patches * height**2)) with
 * height the per-crop grid side, and when ratio > 1.1 the map is interpolated to [int(h // ratio), int(w // ratio)].
 */
export function anyresGridShape(
  geometry: PreprocessGeometry,
  grid: PatchGrid,
  opts: LayoutOptions = {},
): AnyresGridShape {
  const a = geometry.anyres;
  if (!a) throw new RangeError('anyresGridShape: the preprocessing geometry has no anyres grid');
  const keep = unpadExtent(
    geometry.image,
    { height: a.rows * grid.rows, width: a.cols * grid.cols },
    opts.unpad,
  );
  const h = keep.bottom - keep.top;
  const w = keep.right - keep.left;
  if (opts.anyresMax === undefined) return { keep, ratio: 0, interpolated: false, rows: h, cols: w };
  const ratio = Math.sqrt((h * w) / (opts.anyresMax * grid.rows ** 2));
  if (!(ratio > 1.1)) return { keep, ratio, interpolated: false, rows: h, cols: w };
  return { keep, ratio, interpolated: true, rows: Math.floor(h / ratio), cols: Math.floor(w / ratio) };
}

/**
 * Grid tokens of an interpolated map: cell (r, c) of the rows x cols output covers the un-padded map's
 * [r, r+1) * h/rows x [c, c+1) * w/cols patches (its bilinear sample centre is the cell's centre), mapped onto the
 * original image through the padded-image frame of grid crop (0, 0). crop/source name the patch under the centre.
 */
function interpolatedGridLayout(
  geometry: PreprocessGeometry,
  grid: PatchGrid,
  shape: AnyresGridShape,
  tokens: LayoutToken[],
  newline: boolean,
): TokenLayout {
  const a = geometry.anyres!;
  const image = geometry.image;
  const { keep, rows, cols } = shape;
  const first = geometry.crops[1]; // grid crop (0, 0): its frame is the padded image's
  const ph = first.height / grid.rows; // crop pixels per patch
  const pw = first.width / grid.cols;
  const sy = (keep.bottom - keep.top) / rows; // map patches per output cell
  const sx = (keep.right - keep.left) / cols;
  const baseCount = tokens.length;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const gy0 = keep.top + r * sy;
      const gx0 = keep.left + c * sx;
      const gr = Math.min(Math.floor(gy0 + sy / 2), a.rows * grid.rows - 1);
      const gc = Math.min(Math.floor(gx0 + sx / 2), a.cols * grid.cols - 1);
      tokens.push({
        index: tokens.length,
        kind: 'patch',
        view: 'grid',
        crop: 1 + Math.floor(gr / grid.rows) * a.cols + Math.floor(gc / grid.cols),
        row: r,
        col: c,
        source: (gr % grid.rows) * grid.cols + (gc % grid.cols),
        box: mapBox(first.toOriginal, gx0 * pw, gy0 * ph, (gx0 + sx) * pw, (gy0 + sy) * ph, image),
      });
    }
    if (newline) {
      tokens.push({
        index: tokens.length,
        kind: 'newline',
        view: 'grid',
        crop: -1,
        row: r,
        col: cols,
        source: -1,
        box: null,
      });
    }
  }
  const views: ViewInfo[] = [
    { name: 'base', rows: grid.rows, cols: grid.cols, start: 0, count: baseCount },
    { name: 'grid', rows, cols, start: baseCount, count: tokens.length - baseCount },
  ];
  return { imageWidth: image.width, imageHeight: image.height, views, tokens };
}

// ---------------------------------------------------------------- packing

/** The vectors of layout tokens that do not come from the crops: the learned image_newline. */
export interface LayoutVectors {
  newline?: Float32Array;
}

/**
 * Gathers the LLM's image-token vectors: row t of the result is crop `tokens[t].crop`'s row `tokens[t].source`, or
 * the newline vector. A memory copy, no arithmetic.
 * cropFeatures: [crops, tokensPerCrop, hidden]; every vector [hidden]; returns [tokens, hidden].
 */
export function packFeatures(
  cropFeatures: Float32Array,
  cropShape: readonly number[],
  layout: TokenLayout,
  vectors: LayoutVectors | null,
): Float32Array {
  if (cropShape.length !== 3)
    throw new RangeError(`cropShape must be [crops, tokens, hidden], got [${cropShape}]`);
  const [crops, perCrop, hidden] = cropShape;
  checkShape('crop features', [cropFeatures.length], [crops * perCrop * hidden]);
  const newline = vectors?.newline ?? null;
  if (newline) checkShape('image_newline', [newline.length], [hidden], (m) => new MissingTensorError(m));
  const out = new Float32Array(layout.tokens.length * hidden); // [tokens, hidden]
  for (const [t, tok] of layout.tokens.entries()) {
    if (tok.kind === 'newline') {
      if (!newline) {
        throw new MissingTensorError(
          'the token layout has newline tokens but no image_newline vector was given',
        );
      }
      out.set(newline, t * hidden);
      continue;
    }
    if (tok.crop < 0 || tok.crop >= crops || tok.source < 0 || tok.source >= perCrop) {
      throw new RangeError(
        `token ${t} reads crop ${tok.crop} row ${tok.source}, outside crop features [${crops}, ${perCrop}, ${hidden}]`,
      );
    }
    const from = (tok.crop * perCrop + tok.source) * hidden;
    out.set(cropFeatures.subarray(from, from + hidden), t * hidden);
  }
  return out;
}
