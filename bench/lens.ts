/**
 * Times each lens method on a random vocabulary of LLaVA-1.6-7B size (32064 x 4096) and 576 tokens (one
 * 336-px base crop), with 2 onnxruntime threads. Not a test: run `node --import tsx bench/lens.ts`.
 * Each method is run once to create its session, then timed on a second run.
 */
import { Lens } from '../src/lens/lens.js';
import { LENS_METHODS } from '../src/types.js';

const V = Number(process.env.BENCH_VOCAB ?? 32064);
const D = Number(process.env.BENCH_HIDDEN ?? 4096);
const T = Number(process.env.BENCH_TOKENS ?? 576);
const K = 10;

/** Deterministic uniform(-1, 1) noise (xorshift32), scaled. */
function randomMatrix(n: number, scale: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

const t0 = performance.now();
const embed = randomMatrix(V * D, 1 / Math.sqrt(D), 1);
const lmHead = randomMatrix(V * D, 1 / Math.sqrt(D), 2);
const norm = randomMatrix(D, 0.2, 3).map((w) => 1 + w);
const feats = randomMatrix(T * D, 1, 4);
const lens = Lens.create({ embed, lmHead, normWeight: norm, rmsEps: 1e-5, vocab: V, hidden: D, threads: 2 });
console.log(`setup (random data + row norms): ${(performance.now() - t0).toFixed(0)} ms`);
console.log(`vocab ${V} x hidden ${D}, ${T} tokens, k ${K}, 2 threads`);

for (const method of LENS_METHODS) {
  const w0 = performance.now();
  await lens.run(feats, T, method, K);
  const first = performance.now() - w0;
  const t1 = performance.now();
  await lens.run(feats, T, method, K);
  const ms = performance.now() - t1;
  console.log(
    `${method.padEnd(10)} ${ms.toFixed(0).padStart(7)} ms   (first run incl. session: ${first.toFixed(0)} ms)`,
  );
}
await lens.release();
