// The opt-in --dtype q8|q4 path: a MatMulNBits linear (weights quantized in TypeScript, src/graph/quant.ts) run by
// onnxruntime against the fp32 Gemm linear on small shapes.
//
// Error bound. Each weight moves by at most half its block's scale: |w - w~| <= s/2 (asymmetric min/max with the
// range widened to hold 0, zero point rounded, then clamped: the clamp never moves a value past the nearest end
// of the grid). So with fp32 activations (accuracy_level 1)
//   |y - y~| <= sum_k |x_k| |w_k - w~_k|  (+ fp32 rounding of both products, ~1e-6 relative here).
// With int8 activations (accuracy_level 4) onnxruntime also rounds x blockwise to int8 with scale amax/127, so
// |x - x~| <= amax(|x_row|)/254 and
//   |y - y~| <= sum_k |x_k| |w_k - w~_k| + sum_k |x_k - x~_k| |w~_k|.
// q8's DynamicQuantizeMatMul (kernel 'qgemm'): |w - w~| <= s_n/2 with s_n = max|w_n|/127, and A is rounded per
// tensor to uint8 with a_scale = (max(0, max A) - min(0, min A))/255, so |x - x~| <= a_scale/2 and
//   |y - y~| <= sum_k |x_k| |w_k - w~_k| + (a_scale/2) sum_k |w~_k|.
// A wrong packing (nibble order, zero-point layout, B's transpose) breaks these by orders of magnitude.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../runtime/session.js';
import type { WeightTensor } from '../source/types.js';
import { linear } from './blocks.js';
import { GraphBuilder } from './builder.js';
import { dequantizeWeight, quantizeLinear, quantizeWeight, type QuantSpec } from './quant.js';
import { loadWeights, TensorNaming } from './weights.js';

function rand(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

const M = 5;
const N = 24;

async function runLinear(
  x: Float32Array,
  w: Float32Array,
  k: number,
  quant: QuantSpec | null,
): Promise<Float32Array> {
  const g = new GraphBuilder({ name: 'quant.test' });
  const xin = g.input('x', 'float32', [M, k]); // [M, K]
  const info = {
    name: 'lin.weight',
    dtype: 'F32' as const,
    shape: [N, k],
    file: 'm',
    begin: 0,
    end: 4 * N * k,
  };
  const tensors = new Map<string, WeightTensor>([['lin.weight', { info, bytes: new Uint8Array(w.buffer) }]]);
  const weights = loadWeights(g, tensors, new TensorNaming({}), 'test', { quant }).weights;
  g.output(linear(g, weights.pp('lin'), xin, k, N, 'y', { bias: false }), 'y');
  const s = await Session.create(g.build());
  try {
    return (await s.run({ x: { data: x, shape: [M, k] } })).f32('y', [M, N]).data;
  } finally {
    await s.release();
  }
}

for (const bits of [8, 4] as const) {
  for (const k of [96, 80]) {
    for (const accuracyLevel of [1, 4] as const) {
      test(`MatMulNBits q${bits} K=${k} accuracy_level ${accuracyLevel} agrees with fp32 within the bound`, async () => {
        const spec: QuantSpec = { kernel: 'nbits', bits, blockSize: 32, accuracyLevel };
        const x = rand(M * k, 7 + k, 2);
        const w = rand(N * k, 11 + k, 0.2);
        const q = quantizeWeight(new Uint8Array(w.buffer), 'F32', N, k, spec);
        const wq = dequantizeWeight(q);
        // every weight within half its block's scale
        for (let n = 0; n < N; n++) {
          for (let kk = 0; kk < k; kk++) {
            const s = q.scales[n * q.kBlocks + Math.floor(kk / 32)]!;
            const d = Math.abs(w[n * k + kk]! - wq[n * k + kk]!);
            assert.ok(d <= s / 2 + 1e-7, `weight [${n}, ${kk}] moved ${d} > scale/2 = ${s / 2}`);
          }
        }
        const exact = await runLinear(x, w, k, null);
        const got = await runLinear(x, w, k, spec);
        let worst = 0;
        for (let m = 0; m < M; m++) {
          let amax = 0;
          for (let kk = 0; kk < k; kk++) amax = Math.max(amax, Math.abs(x[m * k + kk]!));
          for (let n = 0; n < N; n++) {
            let bound = 0;
            let mag = 0;
            for (let kk = 0; kk < k; kk++) {
              const xv = Math.abs(x[m * k + kk]!);
              bound += xv * Math.abs(w[n * k + kk]! - wq[n * k + kk]!);
              if (accuracyLevel === 4) bound += (amax / 254) * Math.abs(wq[n * k + kk]!);
              mag += xv * Math.abs(w[n * k + kk]!);
            }
            bound += 1e-5 * mag; // fp32 rounding of the two products
            const d = Math.abs(got[m * N + n]! - exact[m * N + n]!);
            worst = Math.max(worst, d / bound);
            assert.ok(d <= bound, `y[${m}, ${n}]: |q - fp32| = ${d} > bound ${bound}`);
          }
        }
        // the bound is not vacuous: the error uses a real part of it, and is not zero
        assert.ok(worst > 0.005, `worst error / bound = ${worst}: suspiciously small`);
      });
    }
  }
}

test('quantizeWeight packs 4-bit values and zero points low nibble first', () => {
  // one row, K = 64 (two blocks): block 0 holds 0..15 scaled, block 1 the negatives
  const w = new Float32Array(64);
  for (let j = 0; j < 32; j++) w[j] = (j % 16) * 0.5;
  for (let j = 0; j < 32; j++) w[32 + j] = -(j % 16) * 0.25;
  const q = quantizeWeight(new Uint8Array(w.buffer), 'F32', 1, 64, {
    kernel: 'nbits',
    bits: 4,
    blockSize: 32,
    accuracyLevel: 1,
  });
  assert.equal(q.scales[0], 0.5); // (7.5 - 0) / 15
  assert.equal(q.scales[1], 0.25); // (0 - -3.75) / 15
  assert.equal(q.b[0], 0x10); // elements 0 (q 0) low, 1 (q 1) high
  assert.equal(q.zeroPoints[0], 15 << 4); // block 0 zp 0 low nibble, block 1 zp 15 high nibble
  assert.deepEqual(
    Array.from(dequantizeWeight(q)),
    Array.from(w, (v) => v + 0),
  ); // exact on this grid (-0 as 0)
});

for (const k of [96, 80]) {
  test(`DynamicQuantizeMatMul (q8 qgemm) K=${k} agrees with fp32 within the bound`, async () => {
    const spec: QuantSpec = { kernel: 'qgemm', bits: 8, blockSize: 32, accuracyLevel: 4 };
    const x = rand(M * k, 3 + k, 2);
    const w = rand(N * k, 5 + k, 0.2);
    const q = quantizeLinear(new Uint8Array(w.buffer), 'F32', N, k, spec);
    assert.equal(q.kind, 'qgemm');
    const wq = dequantizeWeight(q);
    for (let n = 0; n < N; n++) {
      for (let kk = 0; kk < k; kk++) {
        const d = Math.abs(w[n * k + kk]! - wq[n * k + kk]!);
        assert.ok(d <= q.scales[n]! / 2 + 1e-7, `weight [${n}, ${kk}] moved ${d}`);
      }
    }
    let lo = 0;
    let hi = 0;
    for (const v of x) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const aHalf = (hi - lo) / 255 / 2;
    const exact = await runLinear(x, w, k, null);
    const got = await runLinear(x, w, k, spec);
    let worst = 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let bound = 0;
        let mag = 0;
        for (let kk = 0; kk < k; kk++) {
          const xv = Math.abs(x[m * k + kk]!);
          bound += xv * Math.abs(w[n * k + kk]! - wq[n * k + kk]!) + aHalf * Math.abs(wq[n * k + kk]!);
          mag += xv * Math.abs(w[n * k + kk]!);
        }
        bound += 1e-5 * mag;
        const d = Math.abs(got[m * N + n]! - exact[m * N + n]!);
        worst = Math.max(worst, d / bound);
        assert.ok(d <= bound, `y[${m}, ${n}]: |q - fp32| = ${d} > bound ${bound}`);
      }
    }
    assert.ok(worst > 0.005, `worst error / bound = ${worst}: suspiciously small`);
  });
}

test('q8 per-channel quantization: the F16 fast path equals the generic path on the same values', () => {
  const n = 7;
  const k = 64;
  const half = new Uint16Array(n * k);
  let s = 99;
  for (let i = 0; i < half.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    half[i] = ((s >>> 16) & 0x83ff) | ((8 + ((s >>> 12) & 7)) << 10); // normal halves, |v| in [2^-7, 2^0)
  }
  const f = Float32Array.from(half, (h) => {
    const sign = h & 0x8000 ? -1 : 1;
    return sign * (1 + (h & 0x3ff) / 1024) * 2 ** (((h >> 10) & 0x1f) - 15);
  });
  const spec: QuantSpec = { kernel: 'qgemm', bits: 8, blockSize: 32, accuracyLevel: 4 };
  const a = quantizeLinear(new Uint8Array(half.buffer), 'F16', n, k, spec);
  const b = quantizeLinear(new Uint8Array(f.buffer), 'F32', n, k, spec);
  assert.deepEqual(Array.from(a.scales), Array.from(b.scales));
  let worst = 0;
  for (let i = 0; i < n * k; i++) worst = Math.max(worst, Math.abs(a.b[i]! - b.b[i]!));
  assert.ok(worst <= 1, `int8 values differ by ${worst} (only a rounding tie may differ, by 1)`);
});
