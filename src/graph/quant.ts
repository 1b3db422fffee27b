/**
 * The opt-in fast path for big decoders (issue 13, `--dtype q8|q4`): weight-only blockwise int8 / int4
 * quantization of a linear layer's weight, run by onnxruntime's com.microsoft MatMulNBits contrib op. The default
 * (fp32) never comes here and stays exact.
 *
 * MatMulNBits as onnxruntime 1.30 defines it (docs/ContribOperators.md "com.microsoft.MatMulNBits";
 * onnxruntime/contrib_ops/cpu/quantization/matmul_nbits_helper.h CheckInputs):
 *   Y [..., N] = A [..., K] · dequant(B)ᵀ, dequant(B)[n, k] = (q[n, k] - zp[n, k / block]) · scale[n, k / block]
 *   attributes K, N, bits (2, 4 or 8), block_size (a power of 2, >= 16), accuracy_level (0 unset, 1 fp32,
 *     2 fp16, 3 bf16, 4 int8: A is quantized blockwise to int8 as well and the products run in int8)
 *   B uint8 [N, k_blocks, blob_size], k_blocks = ceil(K / block_size), blob_size = block_size · bits / 8; values
 *     packed little end first (4 bits: element 2j in the low nibble, 2j + 1 in the high one)
 *   scales (A's type) [N, k_blocks]
 *   zero_points uint8 [N, ceil(k_blocks · bits / 8)], packed the same way (4 bits: block 2j low nibble)
 * The quantization here is asymmetric min/max per block with the range widened to hold 0 (as onnxruntime's
 * MlasQuantizeBlockwise does): scale = (max - min) / (2^bits - 1), zp = round(-min / scale), q = clamp(round(w /
 * scale) + zp, 0, 2^bits - 1). Every weight then moves by at most scale / 2 (quantError below).
 */
import type { DType } from '../source/types.js';
import { attr, type GraphBuilder, type Value } from './builder.js';

export type WeightDType = 'fp32' | 'q8' | 'q4';
export const WEIGHT_DTYPES: readonly WeightDType[] = ['fp32', 'q8', 'q4'];

export interface QuantSpec {
  bits: 4 | 8;
  /** Weights per scale along K (default 32, onnxruntime's quantizer default). */
  blockSize: number;
  /** MatMulNBits accuracy_level: 4 = int8 activations (VNNI kernels), 1 = fp32 activations. */
  accuracyLevel: 0 | 1 | 4;
}

/** The QuantSpec of a --dtype value; null for fp32 (the exact default path). */
export function quantSpecOf(dtype: WeightDType | undefined): QuantSpec | null {
  if (dtype === undefined || dtype === 'fp32') return null;
  return { bits: dtype === 'q8' ? 8 : 4, blockSize: 32, accuracyLevel: 4 };
}

export interface QuantizedWeight {
  /** [N, kBlocks, blockSize · bits / 8] */
  b: Uint8Array;
  /** [N, kBlocks] */
  scales: Float32Array;
  /** [N, ceil(kBlocks · bits / 8)] */
  zeroPoints: Uint8Array;
  n: number;
  k: number;
  kBlocks: number;
  spec: QuantSpec;
}

let HALF: Float32Array | null = null;
/** Every IEEE half bit pattern as float32 (a 256 KiB table, built once). */
function halfTable(): Float32Array {
  if (HALF) return HALF;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] =
      e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return (HALF = t);
}

/** A reader of element i of a stored tensor as float32 (F32, F16 via a table, BF16 by a shift). */
function elementReader(bytes: Uint8Array, dtype: DType): (i: number) => number {
  if (dtype === 'F32') {
    const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    return (i) => f[i]!;
  }
  const u =
    bytes.byteOffset % 2 === 0
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)
      : new Uint16Array(bytes.slice().buffer);
  if (dtype === 'F16') {
    const t = halfTable();
    return (i) => t[u[i]!]!;
  }
  const one = new Float32Array(1);
  const bits = new Uint32Array(one.buffer);
  return (i) => {
    bits[0] = u[i]! << 16;
    return one[0]!;
  };
}

/**
 * Quantizes a linear weight [N, K] (row n = output feature n, as nn.Linear stores it) blockwise along K. `bytes`
 * are the stored little-endian values in `dtype`. A last partial block is padded with zeros (q = zp).
 */
export function quantizeWeight(
  bytes: Uint8Array,
  dtype: DType,
  n: number,
  k: number,
  spec: QuantSpec,
): QuantizedWeight {
  const { bits, blockSize: bs } = spec;
  if (bs < 16 || (bs & (bs - 1)) !== 0)
    throw new Error(`quantize: block_size ${bs} is not a power of 2 >= 16`);
  const per = dtype === 'F32' ? 4 : 2;
  if (bytes.byteLength !== n * k * per) {
    throw new Error(`quantize: [${n}, ${k}] ${dtype} needs ${n * k * per} bytes, got ${bytes.byteLength}`);
  }
  const at = elementReader(bytes, dtype);
  const kBlocks = Math.ceil(k / bs);
  const blob = (bs * bits) / 8;
  const zpRow = Math.ceil((kBlocks * bits) / 8);
  const qmax = (1 << bits) - 1;
  const b = new Uint8Array(n * kBlocks * blob);
  const scales = new Float32Array(n * kBlocks);
  const zeroPoints = new Uint8Array(n * zpRow);
  const vals = new Float32Array(bs);
  for (let row = 0; row < n; row++) {
    const base = row * k;
    for (let blk = 0; blk < kBlocks; blk++) {
      const k0 = blk * bs;
      const len = Math.min(bs, k - k0);
      let lo = 0;
      let hi = 0;
      for (let j = 0; j < len; j++) {
        const v = at(base + k0 + j);
        if (!Number.isFinite(v)) throw new Error(`quantize: weight [${row}, ${k0 + j}] is ${v}`);
        vals[j] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const scale = hi > lo ? Math.fround((hi - lo) / qmax) : 1;
      const zp = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
      scales[row * kBlocks + blk] = scale;
      const inv = 1 / scale;
      const o = (row * kBlocks + blk) * blob;
      for (let j = 0; j < bs; j++) {
        const q = j < len ? Math.min(qmax, Math.max(0, Math.round(vals[j]! * inv) + zp)) : zp;
        if (bits === 8) b[o + j] = q;
        else b[o + (j >> 1)]! |= j & 1 ? q << 4 : q;
      }
      if (bits === 8) zeroPoints[row * zpRow + blk] = zp;
      else zeroPoints[row * zpRow + (blk >> 1)]! |= blk & 1 ? zp << 4 : zp;
    }
  }
  return { b, scales, zeroPoints, n, k, kBlocks, spec };
}

/** The dequantized weight [N, K] (for tests and error bounds; the graph never holds it). */
export function dequantizeWeight(q: QuantizedWeight): Float32Array {
  const { n, k, kBlocks, spec } = q;
  const bs = spec.blockSize;
  const blob = (bs * spec.bits) / 8;
  const zpRow = Math.ceil((kBlocks * spec.bits) / 8);
  const out = new Float32Array(n * k);
  for (let row = 0; row < n; row++) {
    for (let kk = 0; kk < k; kk++) {
      const blk = Math.floor(kk / bs);
      const j = kk % bs;
      const byte = q.b[(row * kBlocks + blk) * blob + (spec.bits === 8 ? j : j >> 1)]!;
      const v = spec.bits === 8 ? byte : j & 1 ? byte >> 4 : byte & 15;
      const zb = q.zeroPoints[row * zpRow + (spec.bits === 8 ? blk : blk >> 1)]!;
      const zp = spec.bits === 8 ? zb : blk & 1 ? zb >> 4 : zb & 15;
      out[row * k + kk] = (v - zp) * q.scales[row * kBlocks + blk]!;
    }
  }
  return out;
}

/**
 * y [..., N] = x [..., K] · dequant(W)ᵀ (+ bias) through com.microsoft MatMulNBits; the quantized tensors become
 * initializers `${name}.qweight` / `.scales` / `.zero_points`.
 */
export function matMulNBits(
  g: GraphBuilder,
  x: Value,
  q: QuantizedWeight,
  bias: Value | null,
  name: string,
): Value {
  const { n, k, kBlocks, spec } = q;
  const blob = (spec.blockSize * spec.bits) / 8;
  const u8 = (nm: string, data: Uint8Array, shape: number[]) => g.initUint8(nm, data, shape);
  const b = u8(`${name}.qweight`, q.b, [n, kBlocks, blob]); // [N, kBlocks, blob]
  const scales = g.initFloat32(`${name}.scales`, q.scales, [n, kBlocks]); // [N, kBlocks]
  const zp = u8(`${name}.zero_points`, q.zeroPoints, [n, Math.ceil((kBlocks * spec.bits) / 8)]);
  return g.op(
    'MatMulNBits',
    [x, b, scales, zp, null, bias],
    {
      K: attr.int(k),
      N: attr.int(n),
      bits: attr.int(spec.bits),
      block_size: attr.int(spec.blockSize),
      accuracy_level: attr.int(spec.accuracyLevel),
    },
    { name, domain: 'com.microsoft', outTypes: ['float32'] },
  )[0]; // [..., N]
}
