/**
 * Qwen3-VL's learned position embedding, bilinearly interpolated from its side x side table to the patch grid: the
 * corner indices and float32 weights (index arithmetic; the gather and weighted sum run in the ONNX graph).
 * Mirrors transformers 5.x models/qwen3_vl/modeling_qwen3_vl.py Qwen3VLVisionModel.fast_pos_embed_interpolate:
 *   - sample positions torch.linspace(0, side - 1, gh) in float32: corner-aligned (align_corners=True style), rounded
 *     as ATen's CPU kernel rounds them (linspaceF32);
 *   - floor = .int(), ceil = min(floor + 1, side - 1), f = pos - floor;
 *   - weights (1-fh)(1-fw), (1-fh)fw, fh(1-fw), fh·fw for corners (h0,w0), (h0,w1), (h1,w0), (h1,w1), in float32;
 *   - the raster (gh, gw) result permuted into the processor's 2x2-merge-block row order.
 * `sampling: 'half_pixel'` is the align_corners=False convention of F.interpolate, for the pitfall test only.
 */

export interface PosEmbedPlan {
  /** [4, N] rows of pos_embed.weight, N in pixel_values (block) order. */
  indices: BigInt64Array;
  /** [4, N] float32 bilinear weights. */
  weights: Float32Array;
}

/**
 * torch.linspace(start, end, steps) in float32 as ATen's CPU kernel computes it (RangeFactoriesKernel.cpp
 * linspace_kernel through cpu_serial_kernel_vec), in the AVX-512 build that produced the fixtures:
 *   - element i is start + step·i before the halfway point and end − step·(steps − 1 − i) after it, each one fused
 *     multiply-add (one rounding: the compiler contracts it in the AVX2/AVX-512 kernel files; the fixtures' grids
 *     of 16 and 22 patches tell the fused and unfused roundings apart);
 *   - in the vectorized blocks (two 16-lane vectors per loop step, so only grids of 32 or more patches), one base per
 *     vector by that rule and the lanes base + j·step (Vectorized<float>::arange, also fused). No fixture grid
 *     reaches 32, so this part follows the kernel's source and is not checked against torch.
 * The products step·k are exact in double (24-bit times < 2^24), so fround of the double expression is the fused result.
 */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const s = Math.fround(start);
  const e = Math.fround(end);
  const step = Math.fround((e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const at = (i: number) => (i < half ? Math.fround(s + step * i) : Math.fround(e - step * (steps - 1 - i)));
  const lanes = 16;
  let i = 0;
  for (; i + 2 * lanes <= steps; i += 2 * lanes) {
    for (const v of [i, i + lanes]) {
      const base = at(v);
      for (let j = 0; j < lanes; j++) out[v + j] = Math.fround(base + j * step);
    }
  }
  for (; i < steps; i++) out[i] = at(i);
  return out;
}

function halfPixel(side: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  for (let i = 0; i < steps; i++) out[i] = Math.max(0, ((i + 0.5) * side) / steps - 0.5);
  return out;
}

export function posEmbedPlan(
  grid: { h: number; w: number },
  side: number,
  mergeSize: number,
  sampling: 'align_corners' | 'half_pixel' = 'align_corners',
): PosEmbedPlan {
  const sample = (n: number) =>
    sampling === 'align_corners' ? linspaceF32(0, side - 1, n) : halfPixel(side, n);
  const hs = sample(grid.h);
  const ws = sample(grid.w);
  const n = grid.h * grid.w;
  const indices = new BigInt64Array(4 * n);
  const weights = new Float32Array(4 * n);
  const m = mergeSize;
  let o = 0; // pixel_values row: (block row, block col, row in block, col in block)
  for (let bh = 0; bh < grid.h / m; bh++) {
    for (let bw = 0; bw < grid.w / m; bw++) {
      for (let ih = 0; ih < m; ih++) {
        for (let iw = 0; iw < m; iw++) {
          const hp = hs[bh * m + ih];
          const wp = ws[bw * m + iw];
          const h0 = Math.trunc(hp);
          const w0 = Math.trunc(wp);
          const h1 = Math.min(h0 + 1, side - 1);
          const w1 = Math.min(w0 + 1, side - 1);
          const fh = Math.fround(hp - h0);
          const fw = Math.fround(wp - w0);
          const gh = Math.fround(1 - fh);
          const gw = Math.fround(1 - fw);
          const corners = [h0 * side + w0, h0 * side + w1, h1 * side + w0, h1 * side + w1];
          const ws4 = [
            Math.fround(gh * gw),
            Math.fround(gh * fw),
            Math.fround(fh * gw),
            Math.fround(fh * fw),
          ];
          for (let k = 0; k < 4; k++) {
            indices[k * n + o] = BigInt(corners[k]);
            weights[k * n + o] = ws4[k];
          }
          o++;
        }
      }
    }
  }
  return { indices, weights };
}
