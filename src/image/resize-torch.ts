/**
 * The torchvision backend's resize of an 8-bit image, as transformers 5 runs it by default: torchvision 0.27
 * `F.resize(uint8 tensor, antialias=True)` on the CPU calls torch's native uint8 antialiased kernel
 * (`interpolate(mode='bicubic'|'lanczos', antialias=True)` on the uint8 tensor, aten/src/ATen/native/cpu/
 * UpSampleKernel.cpp `_compute_indices_int16_weights_aa` and UpSampleKernelAVXAntialias.h). That kernel is Pillow's
 * algorithm (separable, horizontal pass first, uint8 between the passes, same taps and double weights as
 * src/image/resize.ts) with one difference: the weights become int16 fixed point with a precision chosen per axis,
 * the largest p <= 22 with round(max_weight * 2^(p+1)) < 2^15, instead of Pillow's fixed 22 bits. The sums start at
 * 2^(p-1) and are shifted right by p, then clamped to 0..255.
 * Measured against transformers 5.12.1's torchvision backend (fixtures-modern, LANCZOS, six images of Idefics3 and
 * SmolVLM, up- and downscaling): the resized, canvas and tile uint8 images and pixel_values are bit-exact
 * (test/conformance.test.ts, default-backend cases); Pillow's kernel differs from it by up to 2 levels there.
 * The GPU path of torchvision (float interpolate + round) is not mirrored.
 */
import type { RgbImage } from '../types.js';
import { FILTERS, type Filter, type ResampleFilter } from './resize.js';

interface Int16Coeffs {
  ksize: number;
  bounds: Int32Array; // [out, 2] = (min, count)
  kk: Int32Array; // [out, ksize], int16 range
  precision: number;
}

/** Taps and double weights as Pillow (and torch's _compute_indices_weights_aa), then torch's int16 quantisation. */
function int16Coeffs(inSize: number, outSize: number, f: Filter): Int16Coeffs {
  const scale = inSize / outSize; // area_pixel_compute_scale (align_corners=False), double
  const filterscale = scale < 1 ? 1 : scale;
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const w = new Float64Array(outSize * ksize);
  const ss = 1 / filterscale;
  let maxWeight = 0;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xsize = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      const v = f.fn((j + xmin - center + 0.5) * ss);
      w[xx * ksize + j] = v;
      total += v;
    }
    for (let j = 0; j < xsize; j++) {
      const v = total !== 0 ? w[xx * ksize + j] / total : w[xx * ksize + j];
      w[xx * ksize + j] = v;
      if (v > maxWeight) maxWeight = v;
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xsize;
  }
  let precision = 0;
  for (; precision < 22; precision++) {
    const next = Math.trunc(0.5 + maxWeight * 2 ** (precision + 1));
    if (next >= 1 << 15) break;
  }
  const kk = new Int32Array(outSize * ksize);
  const one = 2 ** precision;
  for (let i = 0; i < kk.length; i++) {
    const v = w[i];
    kk[i] = v < 0 ? Math.trunc(-0.5 + v * one) : Math.trunc(0.5 + v * one);
  }
  return { ksize, bounds, kk, precision };
}

function clamp8(sum: number, precision: number): number {
  const v = sum >> precision;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One pass along x (axis 'x') or y (axis 'y') of an HWC uint8 image. */
function pass(img: RgbImage, c: Int16Coeffs, axis: 'x' | 'y', outSize: number): RgbImage {
  const { width: W, height: H, data: src } = img;
  const outW = axis === 'x' ? outSize : W;
  const outH = axis === 'y' ? outSize : H;
  const out = new Uint8Array(outW * outH * 3);
  const init = c.precision > 0 ? 1 << (c.precision - 1) : 0;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = axis === 'x' ? x : y;
      const min = c.bounds[o * 2];
      const n = c.bounds[o * 2 + 1];
      const kb = o * c.ksize;
      for (let ch = 0; ch < 3; ch++) {
        let s = init;
        for (let j = 0; j < n; j++) {
          const p = axis === 'x' ? (y * W + min + j) * 3 + ch : ((min + j) * W + x) * 3 + ch;
          s += src[p] * c.kk[kb + j];
        }
        out[(y * outW + x) * 3 + ch] = clamp8(s, c.precision);
      }
    }
  }
  return { width: outW, height: outH, data: out };
}

/** Resizes `img` to width x height as torchvision 0.27's CPU uint8 antialiased resize (see the header). */
export function resizeTorchvision(
  img: RgbImage,
  width: number,
  height: number,
  filter: ResampleFilter,
): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`resizeTorchvision: invalid target size ${width}x${height}`);
  }
  if (filter !== 'bicubic' && filter !== 'bilinear' && filter !== 'lanczos') {
    throw new RangeError(`resizeTorchvision: torch has no antialiased "${filter}" kernel`);
  }
  let cur = img;
  if (width !== img.width) cur = pass(cur, int16Coeffs(img.width, width, FILTERS[filter]), 'x', width);
  if (height !== img.height) cur = pass(cur, int16Coeffs(img.height, height, FILTERS[filter]), 'y', height);
  return cur === img ? { width, height, data: img.data.slice() } : cur;
}

/**
 * The torchvision backend's fused rescale + normalize (transformers 5.12.1 image_processing_backends.py
 * TorchvisionBackend.rescale_and_normalize): on the uint8 values as float32, (x - mean') / std' with
 * mean' = float32(mean) * float32(1/rescale) and std' likewise, in float32 (the float32 mean/std tensors scaled;
 * dividing in double instead is off by 1 ulp on ImageNet's mean/std: tiny-internvl). HWC uint8 -> [3, H, W] float32 into `out` at `offset`.
 */
export function toPixelValuesFused(
  img: RgbImage,
  spec: { rescaleFactor: number; mean: readonly number[]; std: readonly number[] },
  out: Float32Array,
  offset = 0,
): void {
  const plane = img.width * img.height;
  const d = img.data;
  for (let c = 0; c < 3; c++) {
    const inv = Math.fround(1 / spec.rescaleFactor);
    const m = Math.fround(Math.fround(spec.mean[c]) * inv);
    const s = Math.fround(Math.fround(spec.std[c]) * inv);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(v - m) / s);
    const o = offset + c * plane;
    for (let i = 0; i < plane; i++) out[o + i] = lut[d[i * 3 + c]];
  }
}
