/**
 * LLaVA-OneVision's packing (modeling_llava_onevision.py pack_image_features at transformers v4.45.1,
 * e71a01a104dd663c730e494eb0b6467bb51df357): the un-padded grid map, bilinearly down-sampled as torch does when it is
 * larger than about anyres_max_N crops, then the layout's tokens in order.
 */
import { MissingTensorError } from '../../errors.js';
import type { PreprocessResult } from '../../image/processor.js';
import { anyresGridShape, type LayoutOptions, type PatchGrid } from '../../layout/layout.js';
import type { TokenLayout } from '../../types.js';
import { checkShape } from '../../util/shape.js';

/**
 * Bilinear resize of a [inH, inW, D] map to [outH, outW, D], as torch.nn.functional.interpolate(mode="bilinear",
 * align_corners=False, antialias=False) computes it on the CPU in float32 (aten/src/ATen/native/UpSample.h
 * area_pixel_compute_scale / area_pixel_compute_source_index and cpu/UpSampleKernel.cpp, torch 1.13): scale = in / out
 * in float32, src = max(scale * (dst + 0.5) - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in - 1), l1 = src - i0,
 * l0 = 1 - l1, out = (x00 l0w + x01 l1w) l0h + (x10 l0w + x11 l1w) l1h, every step rounded to float32.
 * A 4-tap blend per value (no matrix product); it reproduces torch to float32 rounding (the fixtures README allows 5e-6).
 */
export function bilinearResize(
  map: Float32Array,
  inH: number,
  inW: number,
  dim: number,
  outH: number,
  outW: number,
): Float32Array {
  checkShape('bilinearResize input', [map.length], [inH * inW * dim]);
  const f = Math.fround;
  const taps = (inSize: number, outSize: number) => {
    const scale = f(inSize / outSize);
    return Array.from({ length: outSize }, (_, o) => {
      const src = Math.max(f(f(scale * f(o + 0.5)) - 0.5), 0);
      const i0 = Math.floor(src);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = Math.min(Math.max(f(src - i0), 0), 1);
      return { i0, i1, l0: f(1 - l1), l1 };
    });
  };
  const ty = taps(inH, outH);
  const tx = taps(inW, outW);
  const out = new Float32Array(outH * outW * dim); // [outH, outW, D]
  for (let y = 0; y < outH; y++) {
    const { i0: y0, i1: y1, l0: wy0, l1: wy1 } = ty[y];
    for (let x = 0; x < outW; x++) {
      const { i0: x0, i1: x1, l0: wx0, l1: wx1 } = tx[x];
      const a = (y0 * inW + x0) * dim;
      const b = (y0 * inW + x1) * dim;
      const c = (y1 * inW + x0) * dim;
      const d = (y1 * inW + x1) * dim;
      const o = (y * outW + x) * dim;
      for (let k = 0; k < dim; k++) {
        const top = f(f(map[a + k] * wx0) + f(map[b + k] * wx1));
        const bottom = f(f(map[c + k] * wx0) + f(map[d + k] * wx1));
        out[o + k] = f(f(top * wy0) + f(bottom * wy1));
      }
    }
  }
  return out;
}

/**
 * pack_image_features for one image: the un-padded grid map gathered from the crops ([h, w, D], raster order), resized
 * when the layout says so, then the layout's tokens in order (base rows of crop 0, grid cells, newline vectors).
 */
export function packOnevision(
  cropFeatures: Float32Array,
  pre: PreprocessResult,
  layout: TokenLayout,
  grid: PatchGrid,
  hidden: number,
  newline: Float32Array,
  opts: LayoutOptions,
): Float32Array {
  const a = pre.geometry.anyres!;
  const perCrop = grid.rows * grid.cols;
  checkShape('crop features', [cropFeatures.length], [pre.shape[0] * perCrop * hidden]);
  checkShape('image_newline', [newline.length], [hidden], (m) => new MissingTensorError(m));
  const shape = anyresGridShape(pre.geometry, grid, opts);
  const { keep } = shape;
  const h = keep.bottom - keep.top;
  const w = keep.right - keep.left;
  let map: Float32Array = new Float32Array(h * w * hidden); // [h, w, D]
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const gr = keep.top + r;
      const gc = keep.left + c;
      const crop = 1 + Math.floor(gr / grid.rows) * a.cols + Math.floor(gc / grid.cols);
      const src = (crop * perCrop + (gr % grid.rows) * grid.cols + (gc % grid.cols)) * hidden;
      map.set(cropFeatures.subarray(src, src + hidden), (r * w + c) * hidden);
    }
  }
  if (shape.interpolated) map = bilinearResize(map, h, w, hidden, shape.rows, shape.cols);
  const out = new Float32Array(layout.tokens.length * hidden); // [tokens, hidden]
  for (const [t, tok] of layout.tokens.entries()) {
    let from: Float32Array;
    if (tok.kind === 'newline') from = newline;
    else if (tok.view === 'base')
      from = cropFeatures.subarray(tok.source * hidden, (tok.source + 1) * hidden);
    else
      from = map.subarray(
        (tok.row * shape.cols + tok.col) * hidden,
        (tok.row * shape.cols + tok.col + 1) * hidden,
      );
    out.set(from, t * hidden);
  }
  return out;
}
