/**
 * `node --import tsx bench/deep.ts`: the deep lens's decoder layer at llava-1.5-7b's real shapes (Llama-2-7B: hidden
 * 4096, 32 heads, head_dim 128, intermediate 11008; random F16 weights as the checkpoint stores them, cast in-graph)
 * on a 616-token prompt (576 image tokens + 40 text), through the same code the deep lens runs
 * (src/graph/decoder.ts buildDecoderLayer, one onnxruntime session per layer). Measures in one run:
 *   - onnxruntime's fp32 MatMul peak on [616x4096]x[4096x11008] (the yardstick);
 *   - one decoder layer as the deep lens runs it (weights as graph inputs: one session built per run, each layer's
 *     F16 weights fed and cast in-graph): session build, run (median of BENCH_REPEATS), FLOPs, GFLOP/s and the
 *     fraction of the peak (reading the weights from disk is not included);
 *   - the lens at one layer for the 576 image tokens: the logit lens (norm + lm_head [32000x4096]) and the
 *     embedding lens (cosine to embed_tokens), each top-5, through src/lens;
 *   - the extrapolated 32-layer deep lens with the lens at all 33 hidden states, and the process's peak RSS.
 * Prints a table and one JSON line (stdout). Env: BENCH_REPEATS (default 3), BENCH_SEQ (default 616).
 * On a shared 2-core machine the figures are noisy: compare numbers from one run only.
 */
import { GraphBuilder } from '../src/graph/builder.js';
import {
  buildDecoderLayer,
  attentionMask,
  buildRopeGraph,
  DECODER_IO,
  ropeRows,
} from '../src/graph/decoder.js';
import { TensorNaming, inputWeights } from '../src/graph/weights.js';
import { Lens } from '../src/lens/index.js';
import { Session } from '../src/runtime/session.js';
import type { WeightTensor } from '../src/source/types.js';
import { plainPositions } from '../src/llm/spec.js';

const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
const S = Math.max(8, Number(process.env.BENCH_SEQ ?? 616));
const N_IMAGE = Math.min(576, S);
const D = 4096;
const H = 32;
const HD = 128;
const I = 11008;
const V = 32000;
const LAYERS = 32;
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** float32 -> IEEE half bits (round to nearest; tiny values flush to zero: the weights here are ~N(0, 0.02)). */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  const mant = (u >>> 13) & 0x3ff;
  const round = (u >>> 12) & 1;
  return (sign | (exp << 10) | mant) + round;
}

/** A random F16 tensor ~ uniform(-a, a) (a small LCG: reproducible, cheap). */
function randomF16(name: string, shape: number[], a: number, seed: number): WeightTensor {
  const n = shape.reduce((x, y) => x * y, 1);
  const out = new Uint16Array(n);
  let s = seed >>> 0;
  const table = new Uint16Array(4096);
  for (let i = 0; i < table.length; i++) table[i] = toHalf(((i / (table.length - 1)) * 2 - 1) * a);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = table[s >>> 20]!;
  }
  const bytes = new Uint8Array(out.buffer);
  return { info: { name, dtype: 'F16', shape, file: 'synthetic', begin: 0, end: bytes.length }, bytes };
}

function median(ms: number[]): number {
  const v = [...ms].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

async function timeIt(n: number, fn: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

function randomF32(n: number, a: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 2 * a;
  }
  return out;
}

async function main(): Promise<void> {
  // ---- MatMul peak
  const g0 = new GraphBuilder({ name: 'bench.matmul' });
  const a = g0.input('a', 'float32', [S, D]);
  const b = g0.initFloat32('b', randomF32(D * I, 0.02, 7), [D, I]);
  g0.output(g0.matmul(a, b, 'c'));
  const mm = await Session.create(g0.build());
  const aData = randomF32(S * D, 1, 3);
  await mm.run({ a: { data: aData, shape: [S, D] } });
  const mmMs = await timeIt(REPEATS, () => mm.run({ a: { data: aData, shape: [S, D] } }));
  const peak = (2 * S * D * I) / (mmMs / 1000) / 1e9;
  await mm.release();
  log(`MatMul [${S}x${D}]x[${D}x${I}] fp32: ${mmMs.toFixed(0)} ms, ${peak.toFixed(1)} GFLOP/s (peak)`);

  // ---- one decoder layer, Llama-2-7B shapes, F16 weights cast in-graph
  const p = 'language_model.model.layers.0';
  const w = (n: string, shape: number[], seed: number, amp = 0.02) =>
    randomF16(`${p}.${n}`, shape, amp, seed);
  const tensors = new Map<string, WeightTensor>();
  const put = (t: WeightTensor) => tensors.set(t.info.name, t);
  put(w('input_layernorm.weight', [D], 1, 1));
  put(w('post_attention_layernorm.weight', [D], 2, 1));
  put(w('self_attn.q_proj.weight', [H * HD, D], 3));
  put(w('self_attn.k_proj.weight', [H * HD, D], 4));
  put(w('self_attn.v_proj.weight', [H * HD, D], 5));
  put(w('self_attn.o_proj.weight', [D, H * HD], 6));
  put(w('mlp.gate_proj.weight', [I, D], 7));
  put(w('mlp.up_proj.weight', [I, D], 8));
  put(w('mlp.down_proj.weight', [D, I], 9));
  const spec = {
    hidden: D,
    numHeads: H,
    numKvHeads: H,
    headDim: HD,
    intermediate: I,
    act: 'silu',
    eps: 1e-5,
    normKind: 'rms' as const,
    qkvBias: false,
    qkNorm: false,
  };
  const naming = new TensorNaming({});
  // As src/llm/deep.ts runs it: one session with the weights as inputs (built once per run), fed per layer.
  const index = new Map([...tensors].map(([n, t]) => [n, t.info]));
  const tBuild0 = performance.now();
  const g = new GraphBuilder({ name: 'bench.decoder.layer' });
  const iw = inputWeights(g, index, naming, 'bench', p);
  buildDecoderLayer(g, iw.weights.pp(p), spec, 0);
  const layer = await Session.create(g.build());
  const buildMs = performance.now() - tBuild0;
  const weightFeeds = Object.fromEntries(
    [...iw.inputs].map(([n, w]) => {
      const b = tensors.get(w.checkpoint)!.bytes!;
      return [n, { data: new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2), shape: w.shape }];
    }),
  );
  const rope = await Session.create(
    buildRopeGraph({ headDim: HD, theta: 1e4, rows: 1, rowOf: ropeRows(HD, null, false) }),
  );
  const pos = plainPositions(S);
  const r = await rope.run({ [DECODER_IO.positions]: { data: pos.data, shape: [1, S] } });
  await rope.release();
  const feeds = {
    [DECODER_IO.hidden]: { data: randomF32(S * D, 1, 11), shape: [S, D] },
    [DECODER_IO.cos]: { data: r.f32(DECODER_IO.cos).data, shape: [S, HD] },
    [DECODER_IO.sin]: { data: r.f32(DECODER_IO.sin).data, shape: [S, HD] },
    [DECODER_IO.mask]: { data: attentionMask(S, 'causal', null), shape: [S, S] },
    ...weightFeeds,
  };
  await layer.run(feeds);
  const layerMs = await timeIt(REPEATS, () => layer.run(feeds));
  await layer.release();
  const layerFlop = 2 * S * (4 * D * H * HD + 3 * D * I) + 2 * 2 * S * S * H * HD;
  const layerGflops = layerFlop / (layerMs / 1000) / 1e9;
  log(
    `decoder layer (S=${S}): session build (once per run) ${buildMs.toFixed(0)} ms, run with the F16 weights fed ${layerMs.toFixed(0)} ms, ${(layerFlop / 1e9).toFixed(1)} GFLOP, ${layerGflops.toFixed(1)} GFLOP/s = ${((100 * layerGflops) / peak).toFixed(0)} % of peak`,
  );

  // ---- the lens at one layer for the image tokens (logit lens over lm_head, embedding lens over embed_tokens)
  const embed = randomF16('embed_tokens.weight', [V, D], 0.02, 21);
  const head = randomF16('lm_head.weight', [V, D], 0.02, 22);
  const lens = await Lens.create({
    embed,
    lmHead: head,
    normWeight: new Float32Array(D).fill(1),
    rmsEps: 1e-5,
    vocab: V,
    hidden: D,
  });
  const x = randomF32(N_IMAGE * D, 1, 31);
  await lens.run(x, N_IMAGE, 'logit', 5);
  await lens.run(x, N_IMAGE, 'cosine', 5);
  const logitMs = await timeIt(REPEATS, () => lens.run(x, N_IMAGE, 'logit', 5));
  const cosineMs = await timeIt(REPEATS, () => lens.run(x, N_IMAGE, 'cosine', 5));
  await lens.release();
  const lensFlop = 2 * N_IMAGE * D * V;
  log(
    `lens at one layer (${N_IMAGE} tokens): logit ${logitMs.toFixed(0)} ms (${(lensFlop / (logitMs / 1000) / 1e9).toFixed(1)} GFLOP/s), cosine ${cosineMs.toFixed(0)} ms`,
  );

  const totalS = (buildMs + LAYERS * layerMs + (LAYERS + 1) * (logitMs + cosineMs)) / 1000;
  const decoderOnlyS = (buildMs + LAYERS * layerMs) / 1000;
  const rss = process.resourceUsage().maxRSS / 1024; // MiB
  log(
    `32 layers + the lens at 33 hidden states: ~${totalS.toFixed(0)} s (decoder ${decoderOnlyS.toFixed(0)} s, lens ${(totalS - decoderOnlyS).toFixed(0)} s); peak RSS ${rss.toFixed(0)} MiB`,
  );
  process.stdout.write(
    JSON.stringify({
      seq: S,
      imageTokens: N_IMAGE,
      matmulPeakGflops: peak,
      layer: {
        buildMs,
        runMs: layerMs,
        gflop: layerFlop / 1e9,
        gflops: layerGflops,
        ofPeak: layerGflops / peak,
      },
      lens: { logitMs, cosineMs },
      extrapolated32: { totalS, decoderS: decoderOnlyS },
      peakRssMiB: rss,
    }) + '\n',
  );
}

await main();
