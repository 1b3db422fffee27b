/**
 * Pillow-exact resampling of 8-bit RGB images (`Image.resize(size, resample, box)` with reducing_gap=None).
 *
 * Mirrors the algorithm of Pillow 9.4.0 src/libImaging/Resample.c (identical in Pillow 12.3.0, which the transformers 5.12.1
 * fixtures use: the PIL backend's LANCZOS tiles of fixtures-modern are reproduced bit for bit, src/families/idefics3)
 * (https://github.com/python-pillow/Pillow/blob/9.4.0/src/libImaging/Resample.c; unchanged in substance since Pillow 4.3):
 *   - separable convolution, horizontal pass first (only over the source rows the vertical pass will read), then vertical;
 *   - antialiasing: when downscaling the filter support is stretched by scale = in/out;
 *   - output pixel x samples around centre = in0 + (x + 0.5) * scale; taps [xmin, xmax) with xmin = (int)(centre - support + 0.5)
 *     and xmax = (int)(centre + support + 0.5), clamped to the image; weights filter((i - centre + 0.5) / filterscale)
 *     normalised to sum 1 (in double);
 *   - the weights are converted to fixed point with PRECISION_BITS = 32 - 8 - 2 = 22 fractional bits, rounding half away from 0;
 *   - each pass accumulates in integers starting at 1 << 21 (rounding), then shifts right by 22 and clips to 0..255:
 *     the intermediate image is uint8, so rounding/clipping happens BETWEEN the passes;
 *   - a pass is skipped when its axis is unchanged (same size, box edges 0 and size); same size and no box is a plain copy
 *     (Image.resize returns self.copy()).
 * Filters (Resample.c): bicubic = Keys cubic with a = -0.5, support 2; bilinear = triangle, support 1; box 0.5;
 * hamming 1; lanczos 3 (lanczos and hamming use sin/cos, so may differ from C by 1 in rare cases).
 * Nearest-neighbour is a different code path in Pillow and is not implemented.
 */
import { UnsupportedModelError } from '../errors.js';
import type { RgbImage } from '../types.js';

export type ResampleFilter = 'bicubic' | 'bilinear' | 'box' | 'hamming' | 'lanczos';

/** PIL.Image resample codes as written in preprocessor_config.json ("resample": 3). */
export const PIL_RESAMPLE_CODES: Record<number, ResampleFilter | 'nearest'> = {
  0: 'nearest',
  1: 'lanczos',
  2: 'bilinear',
  3: 'bicubic',
  4: 'box',
  5: 'hamming',
};

/** A resampling kernel and its support (in source pixels at scale 1). */
export interface Filter {
  fn: (x: number) => number;
  support: number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

export const FILTERS: Readonly<Record<ResampleFilter, Filter>> = {
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  bilinear: {
    support: 1,
    fn: (x) => {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  hamming: {
    support: 1,
    fn: (x) => {
      if (x < 0) x = -x;
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      // Resample.c: sin(x) / x * (0.54f + 0.46f * cos(x)); the float constants promote to double.
      return (Math.sin(x) / x) * (Math.fround(0.54) + Math.fround(0.46) * Math.cos(x));
    },
  },
  lanczos: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;
const ROUND_HALF = 1 << (PRECISION_BITS - 1);

/** Per output pixel: first source index, tap count, and fixed-point weights (ksize per pixel). */
interface Coeffs {
  ksize: number;
  bounds: Int32Array; // [out, 2] = (min, count)
  kk: Int32Array; // [out, ksize]
}

/** Resample.c precompute_coeffs + normalize_coeffs_8bpc. in0/in1 are C floats (the box). */
function precomputeCoeffs(inSize: number, in0: number, in1: number, outSize: number, f: Filter): Coeffs {
  const scale = Math.fround(in1 - in0) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const v = f.fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] =
        k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** Resample.c clip8: arithmetic shift by PRECISION_BITS, then clamp to 0..255. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS; // |ss| < 2^31, so the int32 shift is exact
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

export interface ResizeOptions {
  /** Default 'bicubic' (the LLaVA processors' resample = 3). */
  filter?: ResampleFilter;
  /** Pillow's box: the source region (x0, y0, x1, y1) to scale, in source pixels; default the whole image. */
  box?: readonly [number, number, number, number];
}

/** Resizes `img` to width x height exactly as Pillow 9.4 `Image.resize((width, height), filter, box)` on an RGB image. */
export function resizePillow(
  img: RgbImage,
  width: number,
  height: number,
  opts: ResizeOptions = {},
): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`resizePillow: invalid target size ${width}x${height}`);
  }
  const filterName = opts.filter ?? 'bicubic';
  const filter = FILTERS[filterName];
  if (!filter) throw new UnsupportedModelError(`resample filter "${String(filterName)}" is not supported`);
  const box = (opts.box ?? [0, 0, img.width, img.height]).map((v) => Math.fround(v));
  const [bx0, by0, bx1, by1] = box;
  if (bx0 < 0 || by0 < 0 || bx1 > img.width || by1 > img.height || bx1 - bx0 < 0 || by1 - by0 < 0) {
    throw new RangeError(
      `resizePillow: box ${JSON.stringify(opts.box)} is outside the ${img.width}x${img.height} image`,
    );
  }
  const wholeBox = bx0 === 0 && by0 === 0 && bx1 === img.width && by1 === img.height;
  if (width === img.width && height === img.height && wholeBox) {
    return { width, height, data: img.data.slice() }; // Image.resize: return self.copy()
  }

  // ImagingResampleInner (note: Pillow compares box[2] with the OUTPUT width).
  const needH = width !== img.width || bx0 !== 0 || bx1 !== width;
  const needV = height !== img.height || by0 !== 0 || by1 !== height;
  const vert = precomputeCoeffs(img.height, by0, by1, height, filter);
  const yFirst = vert.bounds[0];
  const yLast = vert.bounds[height * 2 - 2] + vert.bounds[height * 2 - 1];

  let cur: RgbImage = img;
  if (needH) {
    const horiz = precomputeCoeffs(img.width, bx0, bx1, width, filter);
    for (let i = 0; i < height; i++) vert.bounds[i * 2] -= yFirst;
    cur = horizontalPass(img, horiz, yFirst, yLast - yFirst, width);
  }
  if (needV) cur = verticalPass(cur, vert, height);
  return cur === img ? { width, height, data: img.data.slice() } : cur;
}

function horizontalPass(img: RgbImage, c: Coeffs, yOffset: number, rows: number, outW: number): RgbImage {
  const src = img.data;
  const inStride = img.width * 3;
  const out = new Uint8Array(outW * rows * 3);
  for (let yy = 0; yy < rows; yy++) {
    const rowBase = (yy + yOffset) * inStride;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = c.bounds[xx * 2];
      const n = c.bounds[xx * 2 + 1];
      const kb = xx * c.ksize;
      let s0 = ROUND_HALF;
      let s1 = ROUND_HALF;
      let s2 = ROUND_HALF;
      for (let x = 0; x < n; x++) {
        const k = c.kk[kb + x];
        const p = rowBase + (x + xmin) * 3;
        s0 += src[p] * k;
        s1 += src[p + 1] * k;
        s2 += src[p + 2] * k;
      }
      const o = (yy * outW + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width: outW, height: rows, data: out };
}

function verticalPass(img: RgbImage, c: Coeffs, outH: number): RgbImage {
  const src = img.data;
  const stride = img.width * 3;
  const out = new Uint8Array(stride * outH);
  const acc = new Float64Array(stride); // exact: integer sums stay far below 2^53
  for (let yy = 0; yy < outH; yy++) {
    const ymin = c.bounds[yy * 2];
    const n = c.bounds[yy * 2 + 1];
    const kb = yy * c.ksize;
    acc.fill(ROUND_HALF);
    // row by row over the taps (same sums as Resample.c's per-pixel loop, in cache order)
    for (let y = 0; y < n; y++) {
      const k = c.kk[kb + y];
      const row = (y + ymin) * stride;
      for (let i = 0; i < stride; i++) acc[i] += src[row + i] * k;
    }
    const o = yy * stride;
    for (let i = 0; i < stride; i++) out[o + i] = clip8(acc[i]);
  }
  return { width: img.width, height: outH, data: out };
}
