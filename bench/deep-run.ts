/**
 * `npm run bench -- deep` (bench/deep-run.ts): the whole deep lens (issue 12, Model.deep) at llava-1.5-7b's real
 * decoder shapes (bench/deep.ts times one layer on its own), and the opt-in
 * `--dtype q8|q4` fast path (issue 13) against it.
 *
 * A synthetic checkpoint: the bench's llava-1.5-7b-hf (and llava-v1.6-vicuna-7b-hf) files (bench/synth.ts: vision
 * tower, projector, embed_tokens and lm_head [32064, 4096], final norm; hard links, so onnxruntime may read them in
 * place) plus BENCH_DEEP_LAYERS (default 2) real-size Llama decoder layers (hidden 4096, 32 heads, 32 kv heads,
 * MLP 11008, F16, random values) with config.json's num_hidden_layers set to that count. Writing all 32 (12.9 GB)
 * is possible but slow on the shared machine; with fewer, the 32-layer figures are EXTRAPOLATED from the
 * measured per-layer ones (layer time x 32, lens time per layer x 33) and printed as such.
 *
 * Each run is a fresh child process (`deep.ts --child <model> <dtype>`), so peak RSS (VmHWM, reset through
 * /proc/self/clear_refs after the vision tower ran: the figure is the deep lens's own) and bytes read
 * (/proc/self/io rchar over the deep call) belong to that run alone. The parent measures onnxruntime's fp32
 * MatMul peak on [576x4096]x[4096x11008] (best of 5) in the same run, then compares the q8 / q4 lens ids with
 * fp32 per layer (top-1 equal, top-5 overlap).
 *
 * Env: BENCH_DEEP_LAYERS (default 2), BENCH_DEEP_DTYPES (default fp32,q8,q4), BENCH_DEEP_NEXT=0 skips llava-v1.6.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../src/model.js';
import type { QuantSpec, WeightDType } from '../src/graph/quant.js';
import { synthesise, type BenchModel } from './synth.js';

const log = (s: string): void => void process.stderr.write(`${s}\n`);
const D = 4096;
const I = 11008;
const FULL_LAYERS = 32;

// ---------------------------------------------------------------- the synthetic decoder layers

/** The tensors of decoder layer i (legacy llava-hf names) with their shapes. */
function layerTensors(i: number): Array<[string, number[]]> {
  const p = `language_model.model.layers.${i}.`;
  return [
    [`${p}input_layernorm.weight`, [D]],
    [`${p}self_attn.q_proj.weight`, [D, D]],
    [`${p}self_attn.k_proj.weight`, [D, D]],
    [`${p}self_attn.v_proj.weight`, [D, D]],
    [`${p}self_attn.o_proj.weight`, [D, D]],
    [`${p}post_attention_layernorm.weight`, [D]],
    [`${p}mlp.gate_proj.weight`, [I, D]],
    [`${p}mlp.up_proj.weight`, [I, D]],
    [`${p}mlp.down_proj.weight`, [D, I]],
  ];
}

/** float -> IEEE half bits (normal range only; enough for synthetic values). */
function f16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  return sign | (exp << 10) | Math.round((u & 0x7fffff) / 8192);
}

/** Writes one safetensors file of random F16 values: matrices ~U(-0.03, 0.03) (std ~0.017), norms ~1 +- 0.1. */
function writeLayers(path: string, layers: number): void {
  const tensors = Array.from({ length: layers }, (_, i) => layerTensors(i)).flat();
  tensors.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, d) => a * d, 1) * 2;
    header[name] = { dtype: 'F16', shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8, 'latin1');
  const tableW = Uint16Array.from({ length: 4096 }, (_, j) => f16(((j + 0.5) / 4096 - 0.5) * 0.06));
  const tableS = Uint16Array.from({ length: 4096 }, (_, j) => f16(1 + ((j + 0.5) / 4096 - 0.5) * 0.2));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, head);
    let s = 0x9e3779b9;
    const chunk = new Uint16Array(1 << 22);
    for (const [name, shape] of tensors) {
      const table = name.endsWith('norm.weight') ? tableS : tableW;
      let left = shape.reduce((a, d) => a * d, 1);
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        for (let j = 0; j < n; j++) {
          s ^= s << 13;
          s ^= s >>> 17;
          s ^= s << 5;
          chunk[j] = table[(s >>> 0) & 4095]!;
        }
        writeSync(fd, new Uint8Array(chunk.buffer, 0, n * 2));
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** The deep checkpoint folder for `model` with `layers` decoder layers (written once; `.complete` marks it). */
function deepCheckpoint(base: string, cache: string, model: BenchModel, layers: number): string {
  const dir = join(cache, `deep-${model}-L${layers}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const shared = join(cache, `deep-layers-L${layers}.safetensors`);
  if (!existsSync(`${shared}.complete`)) {
    const t0 = performance.now();
    log(
      `writing ${layers} real-size decoder layers (${((layers * layerBytes()) / 1e9).toFixed(2)} GB F16) ...`,
    );
    writeLayers(shared, layers);
    writeFileSync(`${shared}.complete`, '');
    log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  for (const f of [
    'model.safetensors',
    'preprocessor_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
  ]) {
    linkSync(join(base, f), join(dir, f === 'model.safetensors' ? 'model-00001-of-00002.safetensors' : f));
  }
  linkSync(shared, join(dir, 'model-00002-of-00002.safetensors'));
  const config = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as {
    text_config: Record<string, unknown>;
  };
  config.text_config.num_hidden_layers = layers;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const weightMap: Record<string, string> = {};
  for (const name of headerNames(join(base, 'model.safetensors')))
    weightMap[name] = 'model-00001-of-00002.safetensors';
  for (const name of headerNames(shared)) weightMap[name] = 'model-00002-of-00002.safetensors';
  writeFileSync(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  writeFileSync(join(dir, '.complete'), `${new Date().toISOString()}\n`);
  return dir;
}

function headerNames(path: string): string[] {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const h = Buffer.alloc(n);
    readSync(fd, h, 0, n, 8);
    return Object.keys(JSON.parse(h.toString('utf8')) as object).filter((k) => k !== '__metadata__');
  } finally {
    closeSync(fd);
  }
}

/** F16 bytes of one decoder layer. */
function layerBytes(): number {
  return (4 * D * D + 3 * D * I + 2 * D) * 2;
}

/** FLOPs of one decoder layer over S tokens (linears + QKᵀ and PV over the full [S, S] as onnxruntime runs it). */
function layerFlops(S: number): number {
  return 2 * S * (4 * D * D + 3 * D * I) + 2 * 2 * S * S * D;
}

// ---------------------------------------------------------------- the child: one deep run

interface ChildReport {
  model: string;
  dtype: WeightDType;
  layers: number;
  seq: number;
  imageTokens: number;
  encodeSeconds: number;
  deepSeconds: number;
  layerSeconds: number[];
  runSeconds: number[];
  peakRssBytes: number;
  rssBeforeBytes: number;
  readBytes: number;
  layerCheckpointBytes: number;
  idsFile: string;
  k: number;
}

function procStatus(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}
function rchar(): number {
  const m = /^rchar:\s+(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function child(
  dir: string,
  model: string,
  dtype: WeightDType,
  photo: string,
  out: string,
): Promise<void> {
  const t0 = performance.now();
  const m = await loadModel(dir, {});
  const f = await m.encode(photo);
  const encodeSeconds = (performance.now() - t0) / 1000;
  const rssBefore = procStatus('VmRSS');
  writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  const r0 = rchar();
  const t1 = performance.now();
  const k = 5;
  const res = await m.deep(f, {
    k,
    dtype,
    onProgress: (e) => {
      if (e.status === 'progress' && e.task === 'deep.layers') log(`  [${model} ${dtype}] ${e.label}`);
    },
  });
  const deepSeconds = (performance.now() - t1) / 1000;
  const readBytes = rchar() - r0;
  const layerSeconds = res.timing?.layerSeconds ?? [];
  const runSeconds = res.timing?.runSeconds ?? [];
  const peak = procStatus('VmHWM');
  const ids = res.tensors.lensIds;
  writeFileSync(out + '.ids', new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
  const rep: ChildReport = {
    model,
    dtype,
    layers: res.deep.numLayers,
    seq: res.deep.prompt.ids.length,
    imageTokens: f.layout.tokens.length,
    encodeSeconds,
    deepSeconds,
    layerSeconds,
    runSeconds,
    peakRssBytes: peak,
    rssBeforeBytes: rssBefore,
    readBytes,
    layerCheckpointBytes: res.deep.numLayers * layerBytes(),
    idsFile: out + '.ids',
    k,
  };
  writeFileSync(out, JSON.stringify(rep));
  await m.close();
}

// ---------------------------------------------------------------- the parent

async function matmulPeak(): Promise<{ ms: number; gflops: number }> {
  const M = 576;
  const { GraphBuilder } = await import('../src/graph/builder.js');
  const { Session } = await import('../src/runtime/session.js');
  const g = new GraphBuilder({ name: 'peak' });
  const a = g.input('a', 'float32', [M, D]);
  const w = new Float32Array(D * I).map((_, i) => ((i * 2654435761) % 1000) / 1e5);
  g.output(g.matmul(a, g.initFloat32('w', w, [D, I]), 'y'), 'y');
  const s = await Session.create(g.build());
  const x = new Float32Array(M * D).fill(0.01);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await s.run({ a: { data: x, shape: [M, D] } });
    best = Math.min(best, performance.now() - t);
  }
  await s.release();
  return { ms: best, gflops: (2 * M * D * I) / (best / 1000) / 1e9 };
}

/**
 * The linear kernels on the MLP's [S x 4096] x [4096 x 11008] product (S = 643, the llava-1.5 prompt): TS
 * quantization time, session creation, best-of-3 run, for fp32 MatMul, q8 (DynamicQuantizeMatMul), q4 (MatMulNBits
 * accuracy_level 4) and MatMulNBits 8-bit for comparison.
 */
async function kernelBench(S: number): Promise<string[]> {
  const { GraphBuilder } = await import('../src/graph/builder.js');
  const { Session } = await import('../src/runtime/session.js');
  const { quantizeLinear, quantLinear } = await import('../src/graph/quant.js');
  const u = new Uint16Array(I * D);
  const table = Uint16Array.from({ length: 4096 }, (_, j) => f16(((j + 0.5) / 4096 - 0.5) * 0.06));
  let s = 0x2545f491;
  for (let i = 0; i < u.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    u[i] = table[(s >>> 0) & 4095]!;
  }
  const x = new Float32Array(S * D).map((_, i) => Math.sin(i) * 0.5);
  const flops = 2 * S * D * I;
  const rows: string[] = [];
  const cases: Array<[string, QuantSpec | null]> = [
    ['fp32 MatMul (F16 weight cast in-graph)', null],
    [
      'q8 DynamicQuantizeMatMul (int8 per channel)',
      { kernel: 'qgemm', bits: 8, blockSize: 32, accuracyLevel: 4 },
    ],
    [
      'q4 MatMulNBits (block 32, accuracy_level 4)',
      { kernel: 'nbits', bits: 4, blockSize: 32, accuracyLevel: 4 },
    ],
    [
      'MatMulNBits 8-bit (block 32, accuracy_level 4)',
      { kernel: 'nbits', bits: 8, blockSize: 32, accuracyLevel: 4 },
    ],
  ];
  for (const [label, spec] of cases) {
    const g = new GraphBuilder({ name: 'kernel' });
    const a = g.input('a', 'float32', [S, D]);
    let tq = 0;
    if (spec) {
      const t = performance.now();
      const q = quantizeLinear(new Uint8Array(u.buffer), 'F16', I, D, spec);
      tq = performance.now() - t;
      g.output(quantLinear(g, a, q, null, 'y'), 'y');
    } else {
      const w = g.initializer('w', new Uint8Array(u.buffer), 'F16', [I, D]);
      g.output(g.matmul(a, g.transpose(w, [1, 0]), 'y'), 'y');
    }
    let t = performance.now();
    const sess = await Session.create(g.build());
    const tc = performance.now() - t;
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      t = performance.now();
      await sess.run({ a: { data: x, shape: [S, D] } });
      best = Math.min(best, performance.now() - t);
    }
    await sess.release();
    rows.push(
      `| ${label} | ${spec ? tq.toFixed(0) : '-'} | ${tc.toFixed(0)} | ${best.toFixed(0)} | ${(flops / best / 1e6).toFixed(0)} |`,
    );
  }
  return rows;
}

function runChild(
  dir: string,
  model: string,
  dtype: WeightDType,
  photo: string,
  out: string,
): ChildReport | string {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', dir, model, dtype, photo, out],
    { stdio: ['ignore', 'inherit', 'inherit'], env: process.env },
  );
  if (r.status !== 0 || !existsSync(out)) return `child exited ${r.status ?? r.signal}`;
  return JSON.parse(readFileSync(out, 'utf8')) as ChildReport;
}

/** Per layer (hidden_states index): top-1 equal and mean top-5 overlap of `b` against `a`, ids [L, n, k]. */
function agreement(a: BigInt64Array, b: BigInt64Array, layers: number, n: number, k: number) {
  const rows: Array<{ layer: number; top1: number; top5: number }> = [];
  for (let L = 0; L < layers; L++) {
    let t1 = 0;
    let t5 = 0;
    for (let t = 0; t < n; t++) {
      const o = (L * n + t) * k;
      if (a[o] === b[o]) t1++;
      const set = new Set(Array.from(a.subarray(o, o + k)));
      t5 += Array.from(b.subarray(o, o + k)).filter((x) => set.has(x)).length / k;
    }
    rows.push({ layer: L, top1: t1 / n, top5: t5 / n });
  }
  return rows;
}

const gb = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export async function deepBench(): Promise<void> {
  const layers = Math.max(1, Number(process.env.BENCH_DEEP_LAYERS ?? 2));
  const dtypes = (process.env.BENCH_DEEP_DTYPES ?? 'fp32,q8,q4').split(',') as WeightDType[];
  const files = await synthesise(log);
  const models: BenchModel[] = ['llava-1.5-7b-hf'];
  if (process.env.BENCH_DEEP_NEXT !== '0') models.push('llava-v1.6-vicuna-7b-hf');
  const dirs = Object.fromEntries(
    models.map((m) => [m, deepCheckpoint(files.models[m], files.dir, m, layers)]),
  );
  log(`onnxruntime ${ort.env.versions.common}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);
  const peak = await matmulPeak();
  log(
    `fp32 MatMul peak [576x4096]x[4096x11008]: ${peak.ms.toFixed(0)} ms = ${peak.gflops.toFixed(0)} GFLOP/s`,
  );
  log('timing the linear kernels ...');
  const kernels = await kernelBench(643);
  const outDir = join(files.dir, 'results');
  mkdirSync(outDir, { recursive: true });
  const reports: ChildReport[] = [];
  for (const m of models) {
    for (const dtype of m === 'llava-1.5-7b-hf' ? dtypes : (['fp32'] as WeightDType[])) {
      const r = runChild(dirs[m]!, m, dtype, files.photo, join(outDir, `deep-${m}-${dtype}.json`));
      if (typeof r === 'string') log(`${m} ${dtype}: ${r}`);
      else reports.push(r);
    }
  }
  const lines: string[] = [];
  const p = (s: string) => {
    lines.push(s);
    process.stdout.write(`${s}\n`);
  };
  p(`deep lens bench: ${layers} real-size decoder layers (of ${FULL_LAYERS}); 32-layer figures EXTRAPOLATED`);
  p(`machine: ${cpus().length} cores, ${cpus()[0]?.model ?? '?'}; onnxruntime ${ort.env.versions.common}`);
  p(
    `fp32 MatMul peak [576x4096]x[4096x11008], same run: ${peak.gflops.toFixed(0)} GFLOP/s (${peak.ms.toFixed(0)} ms)`,
  );
  p('');
  p('Linear kernels, [643x4096] x [4096x11008] (the MLP of one layer at the llava-1.5 prompt), F16 weights:');
  p('| kernel | TS quantize ms | session create ms | run ms (best of 3) | GFLOP/s |');
  p('|---|---|---|---|---|');
  for (const row of kernels) p(row);
  p('');
  p(
    'Deep lens (Model.deep, k = 5, lens at every layer; a fresh process per row). "layer s" = read + quantize +',
  );
  p(
    'graph build + session create + run; "run" = the session run alone; GFLOP/s and % of peak are of the run.',
  );
  p(
    '| model | dtype | tokens (image/seq) | layer s (median) | run s | run GFLOP/s | % of peak | lens s per layer | whole deep lens, 32 layers (EXTRAPOLATED) | peak RSS (deep) | rchar / layers asked |',
  );
  p('|---|---|---|---|---|---|---|---|---|---|---|');
  const median = (v: number[]) => {
    const x = [...v].sort((a, b) => a - b);
    return x.length ? x[x.length >> 1]! : NaN;
  };
  for (const r of reports) {
    const med = median(r.layerSeconds);
    const run = median(r.runSeconds);
    const lensPerLayer = (r.deepSeconds - r.layerSeconds.reduce((a, b) => a + b, 0)) / (r.layers + 1);
    const gf = layerFlops(r.seq) / run / 1e9;
    const total = FULL_LAYERS * med + (FULL_LAYERS + 1) * lensPerLayer;
    p(
      `| ${r.model} | ${r.dtype} | ${r.imageTokens}/${r.seq} | ${med.toFixed(2)} | ${run.toFixed(2)} | ${gf.toFixed(0)} | ${((100 * gf) / peak.gflops).toFixed(0)} % | ${lensPerLayer.toFixed(2)} | ${total.toFixed(0)} s | ${gb(r.peakRssBytes)} | ${gb(r.readBytes)} / ${gb(r.layerCheckpointBytes)} |`,
    );
  }
  p('');
  p(
    'rchar counts read() calls: the fp32 path hands the layer files to onnxruntime as external data, which it maps',
  );
  p('(not counted); q8 / q4 read each layer once in JS to quantize it.');
  const base = reports.find((r) => r.model === 'llava-1.5-7b-hf' && r.dtype === 'fp32');
  if (base) {
    const a = new BigInt64Array(new Uint8Array(readFileSync(base.idsFile)).buffer);
    for (const r of reports.filter((x) => x !== base && x.model === base.model)) {
      const b = new BigInt64Array(new Uint8Array(readFileSync(r.idsFile)).buffer);
      const rows = agreement(a, b, base.layers + 1, base.imageTokens, base.k);
      p('');
      p(`${r.dtype} vs fp32, logit lens over ${base.imageTokens} image tokens, per hidden_states index:`);
      p(
        rows
          .map(
            (x) =>
              `  L${x.layer}: top-1 ${(100 * x.top1).toFixed(1)} %, top-5 overlap ${(100 * x.top5).toFixed(1)} %`,
          )
          .join('\n'),
      );
    }
  }
  writeFileSync(join(outDir, `deep-bench-${Date.now()}.md`), lines.join('\n') + '\n');
}

if (process.argv[2] === '--child') {
  const [, , , dir, model, dtype, photo, out] = process.argv;
  await child(dir!, model!, dtype as WeightDType, photo!, out!);
}
