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
 * q8 runs instead through com.microsoft DynamicQuantizeMatMul (onnxruntime's QGEMM: A quantized per tensor to
 * uint8 at run time, B int8 [K, N] with one symmetric scale per output column, u8s8 kernels with AVX-512 VNNI /
 * AMX): on the 2-core bench machine MatMulNBits 8-bit ran a [643x4096]x[4096x11008] product at ~155 GFLOP/s,
 * below fp32 MatMul's ~360, and DynamicQuantizeMatMul at ~1780 (bench/deep.ts prints both).
 *   Y = (A~ - a_zp) · a_scale · B · diag(b_scale), A~ = saturate(round(A / a_scale) + a_zp), a_scale =
 *   (max(0, max A) - min(0, min A)) / 255 (DynamicQuantizeLinear), b = round(w / s_n), s_n = max|w_n| / 127.
 * The blockwise quantization is asymmetric min/max per block with the range widened to hold 0 (as onnxruntime's
 * MlasQuantizeBlockwise does): scale = (max - min) / (2^bits - 1), zp = round(-min / scale), q = clamp(round(w /
 * scale) + zp, 0, 2^bits - 1). Every weight then moves by at most scale / 2 (quantError below).
 */
import type { DType } from '../source/types.js';
import { attr, type GraphBuilder, type Value } from './builder.js';

export type WeightDType = 'fp32' | 'q8' | 'q4';
export const WEIGHT_DTYPES: readonly WeightDType[] = ['fp32', 'q8', 'q4'];

export interface QuantSpec {
  /** 'nbits': MatMulNBits (blockwise, bits 4 or 8); 'qgemm': DynamicQuantizeMatMul (int8 per output channel). */
  kernel: 'nbits' | 'qgemm';
  bits: 4 | 8;
  /** Weights per scale along K (default 32, onnxruntime's quantizer default). */
  blockSize: number;
  /** MatMulNBits accuracy_level: 4 = int8 activations (VNNI kernels), 1 = fp32 activations. */
  accuracyLevel: 0 | 1 | 4;
}

/** The QuantSpec of a --dtype value; null for fp32 (the exact default path). */
export function quantSpecOf(dtype: WeightDType | undefined): QuantSpec | null {
  if (dtype === undefined || dtype === 'fp32') return null;
  return dtype === 'q8'
    ? { kernel: 'qgemm', bits: 8, blockSize: 32, accuracyLevel: 4 }
    : { kernel: 'nbits', bits: 4, blockSize: 32, accuracyLevel: 4 };
}

export interface QuantizedWeight {
  kind: 'nbits';
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

/** A reader of row r ([k] elements) of a stored [n, k] tensor into a float32 buffer (F16 via a table). */
function rowReader(bytes: Uint8Array, dtype: DType, k: number): (r: number, out: Float32Array) => void {
  if (dtype === 'F32') {
    const f =
      bytes.byteOffset % 4 === 0
        ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
        : new Float32Array(bytes.slice().buffer);
    return (r, out) => out.set(f.subarray(r * k, (r + 1) * k));
  }
  const u =
    bytes.byteOffset % 2 === 0
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)
      : new Uint16Array(bytes.slice().buffer);
  if (dtype === 'F16') {
    const t = halfTable();
    return (r, out) => {
      const o = r * k;
      for (let j = 0; j < k; j++) out[j] = t[u[o + j]!]!;
    };
  }
  return (r, out) => {
    const bits = new Uint32Array(out.buffer, out.byteOffset, k);
    const o = r * k;
    for (let j = 0; j < k; j++) bits[j] = u[o + j]! << 16; // bf16 -> f32: the high half
  };
}

function checkRow(row: Float32Array, r: number): void {
  for (let j = 0; j < row.length; j++) {
    if (!Number.isFinite(row[j]!)) throw new Error(`quantize: weight [${r}, ${j}] is ${row[j]}`);
  }
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
  const readRow = rowReader(bytes, dtype, k);
  const rowBuf = new Float32Array(k);
  const kBlocks = Math.ceil(k / bs);
  const blob = (bs * bits) / 8;
  const zpRow = Math.ceil((kBlocks * bits) / 8);
  const qmax = (1 << bits) - 1;
  const b = new Uint8Array(n * kBlocks * blob);
  const scales = new Float32Array(n * kBlocks);
  const zeroPoints = new Uint8Array(n * zpRow);
  for (let row = 0; row < n; row++) {
    readRow(row, rowBuf);
    checkRow(rowBuf, row);
    for (let blk = 0; blk < kBlocks; blk++) {
      const k0 = blk * bs;
      const len = Math.min(bs, k - k0);
      let lo = 0;
      let hi = 0;
      for (let j = 0; j < len; j++) {
        const v = rowBuf[k0 + j]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const scale = hi > lo ? Math.fround((hi - lo) / qmax) : 1;
      const zp = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
      scales[row * kBlocks + blk] = scale;
      const inv = 1 / scale;
      const o = (row * kBlocks + blk) * blob;
      for (let j = 0; j < bs; j++) {
        const q = j < len ? Math.min(qmax, Math.max(0, Math.round(rowBuf[k0 + j]! * inv) + zp)) : zp;
        if (bits === 8) b[o + j] = q;
        else b[o + (j >> 1)]! |= j & 1 ? q << 4 : q;
      }
      if (bits === 8) zeroPoints[row * zpRow + blk] = zp;
      else zeroPoints[row * zpRow + (blk >> 1)]! |= blk & 1 ? zp << 4 : zp;
    }
  }
  return { kind: 'nbits', b, scales, zeroPoints, n, k, kBlocks, spec };
}

/**
 * A weight for DynamicQuantizeMatMul: int8 values [N, K] in the linear weight's own layout (the graph transposes
 * them to the op's B [K, N]; onnxruntime folds that Transpose of a constant once at session creation), scales [N].
 */
export interface QGemmWeight {
  kind: 'qgemm';
  b: Int8Array;
  scales: Float32Array;
  n: number;
  k: number;
}

/** Symmetric int8 per output channel: s_n = max|w_n| / 127, b[n, k] = round(w[n, k] / s_n); |w - b·s| <= s/2. */
export function quantizeWeightPerChannel(bytes: Uint8Array, dtype: DType, n: number, k: number): QGemmWeight {
  const per = dtype === 'F32' ? 4 : 2;
  if (bytes.byteLength !== n * k * per) {
    throw new Error(`quantize: [${n}, ${k}] ${dtype} needs ${n * k * per} bytes, got ${bytes.byteLength}`);
  }
  const b = new Int8Array(n * k); // [N, K]
  const scales = new Float32Array(n);
  const ROUND = 12582912; // 1.5 · 2^23: (x + ROUND) - ROUND rounds |x| < 2^22 to nearest (ties to even)
  if (dtype === 'F16' && bytes.byteOffset % 2 === 0) {
    // The hot path (7 matrices per decoder layer): |w| max from the half bits (h & 0x7fff orders finite halves by
    // magnitude; >= 0x7c00 is Inf/NaN), then one table lookup and a rounding per weight.
    const u = new Uint16Array(bytes.buffer, bytes.byteOffset, n * k);
    const t = halfTable();
    for (let r = 0; r < n; r++) {
      const o = r * k;
      let hmax = 0;
      for (let j = 0; j < k; j++) {
        const h = u[o + j]! & 0x7fff;
        if (h > hmax) hmax = h;
      }
      if (hmax >= 0x7c00) throw new Error(`quantize: row ${r} holds Inf or NaN`);
      const amax = t[hmax]!;
      const sc = amax > 0 ? Math.fround(amax / 127) : 1;
      scales[r] = sc;
      const inv = 1 / sc;
      for (let j = 0; j < k; j++) b[o + j] = t[u[o + j]!]! * inv + ROUND - ROUND;
    }
    return { kind: 'qgemm', b, scales, n, k };
  }
  const readRow = rowReader(bytes, dtype, k);
  const row = new Float32Array(k);
  for (let r = 0; r < n; r++) {
    readRow(r, row);
    checkRow(row, r);
    let amax = 0;
    for (let j = 0; j < k; j++) amax = Math.max(amax, Math.abs(row[j]!));
    const s = amax > 0 ? Math.fround(amax / 127) : 1;
    scales[r] = s;
    const inv = 1 / s;
    const o = r * k;
    for (let j = 0; j < k; j++) b[o + j] = Math.round(row[j]! * inv); // |w / s| <= 127: no clamp needed
  }
  return { kind: 'qgemm', b, scales, n, k };
}

/** Quantizes a linear weight [N, K] as `spec` asks (the kernel's layout). */
export function quantizeLinear(
  bytes: Uint8Array,
  dtype: DType,
  n: number,
  k: number,
  spec: QuantSpec,
): QuantizedWeight | QGemmWeight {
  return spec.kernel === 'qgemm'
    ? quantizeWeightPerChannel(bytes, dtype, n, k)
    : quantizeWeight(bytes, dtype, n, k, spec);
}

/** The dequantized weight [N, K] (for tests and error bounds; the graph never holds it). */
export function dequantizeWeight(q: QuantizedWeight | QGemmWeight): Float32Array {
  if (q.kind === 'qgemm') {
    const out = new Float32Array(q.n * q.k);
    for (let r = 0; r < q.n; r++) {
      for (let j = 0; j < q.k; j++) out[r * q.k + j] = q.b[r * q.k + j]! * q.scales[r]!;
    }
    return out;
  }
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
export function quantLinear(
  g: GraphBuilder,
  x: Value,
  q: QuantizedWeight | QGemmWeight,
  bias: Value | null,
  name: string,
): Value {
  if (q.kind === 'nbits') return matMulNBits(g, x, q, bias, name);
  const b = g.initUint8(
    `${name}.qweight`,
    new Uint8Array(q.b.buffer, q.b.byteOffset, q.b.byteLength),
    [q.n, q.k],
    'int8',
  ); // [N, K]
  const bT = g.transpose(b, [1, 0], `${name}.qweight_t`); // [K, N], folded at session creation
  const scales = g.initFloat32(`${name}.scales`, q.scales, [q.n]); // [N]
  return g.op(
    'DynamicQuantizeMatMul',
    [x, bT, scales, null, bias],
    {},
    {
      name,
      domain: 'com.microsoft',
      outTypes: ['float32'],
    },
  )[0]; // [..., N]
}

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
