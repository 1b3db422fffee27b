/**
 * The non-resampling image steps of HF image processors, with transformers 4.45.1's exact arithmetic
 * (image_transforms.py at e71a01a104dd663c730e494eb0b6467bb51df357: center_crop, pad, rescale, normalize,
 * to_channel_dimension_format). Images are uint8 RGB HWC until `toPixelValues`, which produces float32 CHW.
 */
import type { RgbImage } from '../types.js';

export interface Size {
  height: number;
  width: number;
}

/** A crop window on an image: top-left offset (may be negative: zero fill) and size. */
export interface CropWindow {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * Copies the window [top, top+height) x [left, left+width) out of `img`; pixels outside the image are 0 (black).
 * This is numpy slicing when the window is inside, and the zero-padded branch of transformers' center_crop otherwise.
 */
export function cropImage(img: RgbImage, win: CropWindow): RgbImage {
  const { top, left, height, width } = win;
  const out = new Uint8Array(width * height * 3);
  const x0 = Math.max(0, left);
  const x1 = Math.min(img.width, left + width);
  if (x1 > x0) {
    for (let y = Math.max(0, top); y < Math.min(img.height, top + height); y++) {
      const src = (y * img.width + x0) * 3;
      out.set(img.data.subarray(src, src + (x1 - x0) * 3), ((y - top) * width + (x0 - left)) * 3);
    }
  }
  return { width, height, data: out };
}

/**
 * transformers `center_crop(image, (height, width))`: top = (h - ch) // 2, left = (w - cw) // 2 (floor division).
 * When the crop is larger than the image, transformers zero-pads (ceil of half the excess before), which is the same as
 * the floor-division offset with zero fill, so one formula covers both branches.
 */
export function centerCropWindow(img: Size, crop: Size): CropWindow {
  return {
    top: Math.floor((img.height - crop.height) / 2),
    left: Math.floor((img.width - crop.width) / 2),
    height: crop.height,
    width: crop.width,
  };
}

export interface Padding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** transformers `pad(image, ((top, bottom), (left, right)))` with mode constant, value 0. */
export function padImage(img: RgbImage, p: Padding): RgbImage {
  return cropImage(img, {
    top: -p.top,
    left: -p.left,
    height: img.height + p.top + p.bottom,
    width: img.width + p.left + p.right,
  });
}

export interface NormalizeSpec {
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  /** Per channel (R, G, B). */
  mean: readonly number[];
  std: readonly number[];
}

/**
 * Rescale + normalize + HWC -> CHW, writing [3, H, W] float32 into `out` at `offset`.
 *   rescale (image_transforms.rescale): image.astype(float64) * scale, then .astype(float32);
 *   normalize (image_transforms.normalize): (image - mean) / std with mean/std cast to the image dtype, float32 arithmetic.
 * Math.fround after each double operation is exact float32 arithmetic here: the difference of two float32 values is exact in
 * double, and a double quotient of float32 operands rounded to float32 is the correctly rounded float32 quotient.
 */
export function toPixelValues(img: RgbImage, spec: NormalizeSpec, out: Float32Array, offset = 0): void {
  const plane = img.width * img.height;
  if (out.length < offset + plane * 3) throw new RangeError('toPixelValues: output buffer too small');
  const lut = new Float32Array(256 * 3);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(spec.mean[c]);
    const s = Math.fround(spec.std[c]);
    for (let v = 0; v < 256; v++) {
      let x = spec.doRescale ? Math.fround(v * spec.rescaleFactor) : v;
      if (spec.doNormalize) x = Math.fround(Math.fround(x - m) / s);
      lut[c * 256 + v] = x;
    }
  }
  const d = img.data;
  for (let c = 0; c < 3; c++) {
    const o = offset + c * plane;
    const lb = c * 256;
    for (let i = 0; i < plane; i++) out[o + i] = lut[lb + d[i * 3 + c]];
  }
}

/** HWC uint8 -> [3, H, W] uint8 into `out` at `offset`. */
export function toChw(img: RgbImage, out: Uint8Array, offset = 0): void {
  const plane = img.width * img.height;
  const d = img.data;
  for (let c = 0; c < 3; c++) {
    const o = offset + c * plane;
    for (let i = 0; i < plane; i++) out[o + i] = d[i * 3 + c];
  }
}
