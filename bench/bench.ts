/**
 * `npm run bench`: imgtokens at real scale on this machine. Synthesises (once, cached; bench/synth.ts) random-weight
 * checkpoints shaped exactly like llava-hf/llava-1.5-7b-hf and llava-hf/llava-v1.6-vicuna-7b-hf and a 1600x1200
 * photo, then measures in one run:
 *   - onnxruntime's fp32 MatMul peak on [577x1024]x[1024x4096] in this process (the yardstick for every stage);
 *   - per stage: decode+preprocess, vision tower per crop, projector, packing, each lens method at k=5 and OMP at
 *     k=10 (median, min/max over BENCH_REPEATS runs, FLOPs, GFLOP/s, fraction of peak);
 *   - load time by step, warm end-to-end time, batch throughput (src/batch) vs 1 / warm time;
 *   - cold start in a fresh child process (bench/cold.ts; files in the page cache): time to first result, peak
 *     RSS, bytes read (/proc/self/io) vs the needed tensors + headers;
 *   - an onnxruntime profile (per-op time) of one vision-tower crop: where the slowest stage spends its time;
 *   - the same for --device webgpu when onnxruntime can start it, else the reason it was skipped.
 * Prints a table and writes JSON (BENCH_JSON, default <cache>/results/bench-<time>.json).
 *
 * Env: BENCH_REPEATS (default 3), BENCH_MODELS (comma list, default both), BENCH_SKIP_COLD=1, BENCH_SKIP_PROFILE=1.
 * The newer families (bench/families.ts): `npm run bench -- --families all|KEY,...` runs only those, `--skip-large`.
 * Timings on a shared 2-core machine are noisy: compare numbers from one run only.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { runBatch } from '../src/batch/index.js';
import { llavaProjector } from '../src/graph/blocks.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { LLAVA_NAMING, loadWeights } from '../src/graph/weights.js';
import { loadModel, planModel, type Model } from '../src/model.js';
import type { ProgressEvent } from '../src/progress.js';
import { Session, availableDevices, type Device } from '../src/runtime/session.js';
import { LocalSource } from '../src/source/local.js';
import type { LensMethod } from '../src/types.js';
import type { ColdReport } from './cold.js';
import { benchFamilies, familyArgs } from './families.js';
import type { StageRow, Timing } from './rows.js';
import { BENCH_MODELS, synthesise, type BenchFiles, type BenchModel } from './synth.js';

const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
const log = (s: string): void => void process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------- timing helpers

async function timeRuns(n: number, fn: () => Promise<unknown> | unknown): Promise<Timing> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const mid = ms.length >> 1;
  const median = ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
  return { medianMs: median, minMs: ms[0], maxMs: ms[ms.length - 1], runs: n };
}

/** The BLAS peak of this run (GFLOP/s), set by main() before any row is made; null when unavailable. */
let BLAS_PEAK: number | null = null;

// ---------------------------------------------------------------- FLOP counts (multiply-add = 2)

const C = 1024; // CLIP ViT-L hidden
const I = 4096; // CLIP MLP
const T = 577; // tokens per crop incl. CLS
const LAYERS = 23; // layers run for vision_feature_layer -2
const TEXT = 4096;
const VOCAB = 32064;
const PATCH_TOKENS = 576;

const VISION_FLOPS_PER_CROP =
  2 * PATCH_TOKENS * C * 3 * 14 * 14 + // patch conv
  LAYERS * (4 * 2 * T * C * C + 2 * 2 * T * C * I + 2 * 2 * T * T * C); // qkvo, mlp, q·kᵀ and p·v
const PROJECTOR_FLOPS_PER_CROP = 2 * PATCH_TOKENS * (C * TEXT + TEXT * TEXT);
const lensFlops = (tokens: number): number => 2 * tokens * TEXT * VOCAB;

// ---------------------------------------------------------------- the MatMul peak

async function matmulPeak(device: Device = 'cpu'): Promise<{ gflops: number; timing: Timing }> {
  const M = 577;
  const K = 1024;
  const N = 4096;
  const g = new GraphBuilder({ name: 'peak' });
  const a = g.input('a', 'float32', [M, K]);
  const b = new Float32Array(K * N).map((_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
  g.output(g.matmul(a, g.initFloat32('b', b, [K, N]), 'c'));
  const s = await Session.create(g.build(), { device });
  const x = new Float32Array(M * K).map((_, i) => ((i * 40503) % 1000) / 1000 - 0.5);
  await s.run({ a: { data: x, shape: [M, K] } }); // warm-up
  const timing = await timeRuns(Math.max(5, REPEATS * 3), () => s.run({ a: { data: x, shape: [M, K] } }));
  await s.release();
  return { gflops: (2 * M * K * N) / (timing.minMs / 1000) / 1e9, timing };
}

// ---------------------------------------------------------------- per-model stages

function row(
  model: string,
  stage: string,
  timing: Timing | null,
  flops: number | null,
  peak: number,
  note?: string,
): StageRow {
  const gflops = timing && flops ? flops / (timing.medianMs / 1000) / 1e9 : null;
  return {
    model,
    stage,
    timing,
    flops,
    gflops,
    ofPeak: gflops ? gflops / peak : null,
    ofBlas: gflops && BLAS_PEAK ? gflops / BLAS_PEAK : null,
    note,
  };
}

/** The projector alone as an ORT graph from the checkpoint's weights, to split vision tower from projector. */
async function projectorSession(dir: string): Promise<Session> {
  const src = new LocalSource(dir);
  const names = [
    'multi_modal_projector.linear_1.weight',
    'multi_modal_projector.linear_1.bias',
    'multi_modal_projector.linear_2.weight',
    'multi_modal_projector.linear_2.bias',
  ];
  const tensors = await src.readTensors(names);
  const g = new GraphBuilder({ name: 'projector' });
  const w = loadWeights(g, tensors, LLAVA_NAMING, dir).weights;
  const x = g.input('x', 'float32', [1, PATCH_TOKENS, C]);
  g.output(
    llavaProjector(
      g,
      w.pp('multi_modal_projector'),
      x,
      { visionHidden: C, textHidden: TEXT, act: 'gelu' },
      'y',
    ),
  );
  return Session.create(g.build());
}

interface OpProfile {
  totalMs: number;
  byOp: Array<{ op: string; ms: number; share: number }>;
  byPart: Array<{ part: string; ms: number; share: number }>;
}

/** One crop through the vision graph with onnxruntime's profiler on: node time by op type and by graph part. */
async function profileVision(dir: string, pixels: Float32Array): Promise<OpProfile> {
  const src = new LocalSource(dir);
  const plan = await planModel(src);
  const names = plan.loaded.visionTensorNames();
  const graph = plan.loaded.buildVisionGraph(await src.readTensors(names));
  const prefix = join(tmpdir(), `imgtokens-bench-profile-${process.pid}`);
  const s = await ort.InferenceSession.create(graph, {
    graphOptimizationLevel: 'all',
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  const x = new ort.Tensor('float32', pixels.subarray(0, 3 * 336 * 336), [1, 3, 336, 336]);
  await s.run({ pixel_values: x });
  s.endProfiling();
  await s.release();
  const dirName = tmpdir();
  const file = readdirSync(dirName).find((f) => f.startsWith(`imgtokens-bench-profile-${process.pid}`));
  if (!file) throw new Error('onnxruntime wrote no profile');
  const events = JSON.parse(readFileSync(join(dirName, file), 'utf8')) as Array<{
    cat: string;
    name: string;
    dur: number;
    args?: { op_name?: string };
  }>;
  rmSync(join(dirName, file));
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const total = kernels.reduce((a, e) => a + e.dur, 0);
  const sum = (key: (e: (typeof kernels)[number]) => string) => {
    const m = new Map<string, number>();
    for (const e of kernels) m.set(key(e), (m.get(key(e)) ?? 0) + e.dur);
    return [...m].sort((a, b) => b[1] - a[1]);
  };
  const part = (n: string): string => {
    if (n.startsWith('projector')) return 'projector';
    const m = /layer\.\d+\.(attn\.(q|k|v|out)|attn|mlp\.(fc1|fc2|act)|ln\d)/.exec(n);
    if (m) return m[1].startsWith('attn.') && m[2] ? `attn ${m[2]} proj` : m[1];
    return n.startsWith('vision.embeddings') || n.includes('pre_layrnorm') ? 'embeddings' : 'other';
  };
  return {
    totalMs: total / 1000,
    byOp: sum((e) => e.args?.op_name ?? '?').map(([op, us]) => ({ op, ms: us / 1000, share: us / total })),
    byPart: sum((e) => part(e.name)).map(([p, us]) => ({ part: p, ms: us / 1000, share: us / total })),
  };
}

async function coldStart(
  dir: string,
  image: string,
  method: LensMethod,
  device: Device,
  sessionCache: string = 'off',
): Promise<ColdReport & { wallMs: number }> {
  const t0 = performance.now();
  const jsonOut = join(tmpdir(), `imgtokens-bench-${process.pid}.json`);
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        new URL('./cold.ts', import.meta.url).pathname,
        dir,
        image,
        method,
        device,
        jsonOut,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, IMGTOKENS_SESSION_CACHE: sessionCache },
      },
    );
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`cold-start child exited with ${code}`)),
    );
  });
  rmSync(jsonOut, { force: true });
  return { ...(JSON.parse(out.trim().split('\n').pop()!) as ColdReport), wallMs: performance.now() - t0 };
}

/** One fresh process's figures: wall (spawn to exit), time to the written result, peak RSS. */
interface FreshRun {
  wallMs: number;
  resultMs: number;
  peakRss: number;
}

export interface FreshReport {
  /** The session cache empty: what the first run after install pays (it also fills the cache). */
  first: FreshRun;
  /** Later runs, the cache filled: median and each run. */
  later: FreshRun[];
  laterMedian: FreshRun;
  /** The session cache off (every run builds its sessions, as before the cache). */
  off: FreshRun;
  cacheBytes: number;
  /** BENCH_PEER's wall times, one after each later run (llava-1.5-7b only). */
  peerMs?: number[];
}

const fresh = (c: ColdReport & { wallMs: number }): FreshRun => ({
  wallMs: c.wallMs,
  resultMs: c.firstResultMs,
  peakRss: c.maxRssBytes,
});

function medianRun(runs: FreshRun[]): FreshRun {
  const med = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  return {
    wallMs: med(runs.map((r) => r.wallMs)),
    resultMs: med(runs.map((r) => r.resultMs)),
    peakRss: med(runs.map((r) => r.peakRss)),
  };
}

function du(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((a, f) => a + du(join(path, f)), 0);
}

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const PEAK_RSS = fileURLToPath(new URL('./peak-rss.mjs', import.meta.url));

/** Runs `argv` as a child with `env` added; resolves with its wall time once it exits 0. */
function timedChild(argv: string[], env: Record<string, string>, what: string): Promise<number> {
  const t0 = performance.now();
  return new Promise<number>((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ...env },
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${what} exited with ${code}`)),
    );
  });
}

/**
 * What a user runs: the built CLI (dist/cli/main.js; `npm install` builds it), `imgtokens <photo> --model <dir>
 * --method cosine -k 5 --json <tmp> -q`, as a fresh process; wall = spawn to exit, the JSON written just before
 * the exit; peak RSS through bench/peak-rss.mjs. Without a build, bench/cold.ts through tsx (its TypeScript
 * loader adds about 0.2 s of imports).
 */
async function cliRun(dir: string, image: string, sessionCache: string): Promise<FreshRun> {
  if (!existsSync(CLI)) return fresh(await coldStart(dir, image, 'cosine', 'cpu', sessionCache));
  const jsonOut = join(tmpdir(), `imgtokens-bench-${process.pid}.json`);
  const rssOut = join(tmpdir(), `imgtokens-bench-${process.pid}.rss`);
  const wallMs = await timedChild(
    [
      process.execPath,
      '--import',
      PEAK_RSS,
      CLI,
      image,
      '--model',
      dir,
      '--method',
      'cosine',
      '-k',
      '5',
      '--json',
      jsonOut,
      '-q',
    ],
    { IMGTOKENS_SESSION_CACHE: sessionCache, IMGTOKENS_PEAK_RSS_FILE: rssOut },
    'imgtokens',
  );
  const peakRss = Number(readFileSync(rssOut, 'utf8'));
  rmSync(jsonOut, { force: true });
  rmSync(rssOut, { force: true });
  return { wallMs, resultMs: wallMs, peakRss };
}

/**
 * BENCH_PEER: a command line (split on spaces) that does the same job in transformers from a fresh Python process
 * (bench/peer.py, see docs/bench.md "The transformers peer"), run for llava-1.5-7b only, alternating with the
 * later imgtokens runs so that both see the same machine. Its wall time is spawn to exit.
 */
const PEER = process.env.BENCH_PEER?.trim() ?? '';

/**
 * Fresh processes of the CLI (cliRun; files in the page cache) with the session cache emptied first, then
 * `later` runs with it filled (each followed by a peer run when `peer`), then one with it off. Leaves the cache
 * filled.
 */
async function freshRuns(
  dir: string,
  image: string,
  cache: string,
  later: number,
  peer: boolean,
): Promise<FreshReport> {
  rmSync(cache, { recursive: true, force: true });
  log('fresh process, session cache empty (first run) ...');
  const first = await cliRun(dir, image, cache);
  const runs: FreshRun[] = [];
  const peerMs: number[] = [];
  for (let i = 0; i < later; i++) {
    log(`fresh process, session cache filled (${i + 1}/${later}) ...`);
    runs.push(await cliRun(dir, image, cache));
    if (peer) {
      log(`the transformers peer (${i + 1}/${later}) ...`);
      peerMs.push(await timedChild(PEER.split(/\s+/), {}, 'the peer (BENCH_PEER)'));
    }
  }
  log('fresh process, session cache off ...');
  const off = await cliRun(dir, image, 'off');
  return {
    first,
    later: runs,
    laterMedian: medianRun(runs),
    off,
    cacheBytes: du(cache),
    ...(peer ? { peerMs } : {}),
  };
}

// ---------------------------------------------------------------- the BLAS peak

/**
 * numpy's float32 matmul on the same shape, best of 20, in a python3 child with OPENBLAS_CORETYPE unset (so
 * OpenBLAS picks its kernels for this CPU): the machine's BLAS yardstick beside onnxruntime's MatMul.
 */
function blasPeak(): { gflops: number; numpy: string } | { unavailable: string } {
  const script = [
    'import time, numpy as np',
    'a = np.random.rand(577, 1024).astype(np.float32); b = np.random.rand(1024, 4096).astype(np.float32)',
    'a @ b',
    'best = 1e9',
    'for _ in range(20):',
    '    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)',
    'print(np.__version__, 2 * 577 * 1024 * 4096 / best / 1e9)',
  ].join('\n');
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  try {
    const out = execFileSync('python3', ['-c', script], { encoding: 'utf8', env, timeout: 120_000 }).trim();
    const [numpy, g] = out.split(/\s+/);
    return { gflops: Number(g), numpy };
  } catch (e) {
    return {
      unavailable: `python3 with numpy is unavailable (${(e as Error).message.split('\n')[0].slice(0, 120)})`,
    };
  }
}

/**
 * Bytes of every tensor analysis reads plus the safetensors headers and the small files; of those, lm_head (not
 * read for the cold start's cosine lens) and what onnxruntime maps in place (external data: the vision tensors
 * and embed_tokens), which /proc/self/io does not count because it is mmap'd, not read.
 */
async function neededBytes(
  dir: string,
): Promise<{ tensors: number; headers: number; small: number; lmHead: number; mapped: number }> {
  const src = new LocalSource(dir);
  const plan = await planModel(src);
  const index = await src.tensorIndex();
  const size = (n: string): number => index.get(n)!.end - index.get(n)!.begin;
  const sum = (ns: readonly string[]): number => ns.reduce((a, n) => a + size(n), 0);
  const tensors = sum(plan.tensorNames);
  const { text } = plan.loaded;
  const lmHead = text.lmHead ? size(text.lmHead) : 0;
  const mapped = sum(plan.loaded.visionTensorNames()) + size(text.embed);
  const st = readFileSync(join(dir, 'model.safetensors')).subarray(0, 8); // one shard here
  const headers = 8 + Number(Buffer.from(st).readBigUInt64LE(0));
  const small = ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json'].reduce(
    (a, f) => a + readFileSync(join(dir, f)).byteLength,
    0,
  );
  return { tensors, headers, small, lmHead, mapped };
}

interface ModelReport {
  model: string;
  repo: string;
  crops: number;
  tokens: number;
  loadMs: number;
  loadSteps: Record<string, number>;
  warmEndToEnd: Timing;
  lensSessionMs: Partial<Record<LensMethod, number>>;
  batch: {
    images: number;
    seconds: number;
    imagesPerSecond: number;
    vsWarm: number;
    steadyImagesPerSecond: number;
    steadyVsWarm: number;
  } | null;
  cold: (ColdReport & { wallMs: number }) | null;
  fresh: FreshReport | null;
  omp: {
    gramMs: number;
    residualMs: number;
    distinctAtoms: number;
    /** Batch-OMP's time in dot passes (the lens dot k=5 time of the same run). */
    dotPasses: number;
    vsResidual: number;
    /** The original's 142.7 s on a 360 GFLOP/s machine, scaled by this run's MatMul peak, over ours. */
    vsOriginal: number;
  } | null;
  needed: { tensors: number; headers: number; small: number; lmHead: number; mapped: number };
  profile: OpProfile | null;
}

async function benchModel(
  name: BenchModel,
  files: BenchFiles,
  peak: number,
  rows: StageRow[],
  opts: { lens: boolean; batch: number; repeats: number; profile: boolean; freshRuns: number },
): Promise<ModelReport> {
  const dir = files.models[name];
  const repo = BENCH_MODELS[name];
  log(`\n== ${repo} (synthetic, ${dir})`);
  // Each checkpoint's own session cache, beside the checkpoints (emptied for the first fresh run).
  const sessionCache = join(files.dir, 'sessions', name);
  const freshReport =
    process.env.BENCH_SKIP_FRESH === '1'
      ? null
      : await freshRuns(
          dir,
          files.photo,
          sessionCache,
          opts.freshRuns,
          PEER !== '' && name === 'llava-1.5-7b-hf',
        );
  const loadSteps: Record<string, number> = {};
  let loading = true;
  const t0 = performance.now();
  const m: Model = await loadModel(dir, {
    sessionCache,
    onProgress: (e: ProgressEvent) => {
      if (loading && e.status === 'done' && e.seconds !== undefined) loadSteps[e.task] = e.seconds * 1000;
    },
  });
  const loadMs = performance.now() - t0;
  loading = false;
  log(`loaded in ${(loadMs / 1000).toFixed(1)} s`);
  const method: LensMethod = 'cosine';
  const prepared = await m.prepare(files.photo, { onProgress: () => {} });
  const crops = prepared.pre.shape[0];
  rows.push(
    row(
      repo,
      'decode + preprocess',
      await timeRuns(opts.repeats, () => m.prepare(files.photo, { onProgress: () => {} })),
      null,
      peak,
      '1600x1200 JPEG',
    ),
  );
  await m.encodePrepared(prepared, { onProgress: () => {} }); // warm-up
  const enc = await timeRuns(opts.repeats, () => m.encodePrepared(prepared, { onProgress: () => {} }));
  const perCrop = (ms: number): number => ms / crops;
  const encRow: Timing = {
    medianMs: perCrop(enc.medianMs),
    minMs: perCrop(enc.minMs),
    maxMs: perCrop(enc.maxMs),
    runs: enc.runs,
  };
  // Split the per-crop time into tower and projector with a projector-only graph of the same weights.
  const proj = await projectorSession(dir);
  const px = new Float32Array(PATCH_TOKENS * C).map((_, i) => Math.sin(i));
  await proj.run({ x: { data: px, shape: [1, PATCH_TOKENS, C] } });
  const projT = await timeRuns(opts.repeats, () =>
    proj.run({ x: { data: px, shape: [1, PATCH_TOKENS, C] } }),
  );
  await proj.release();
  const towerT: Timing = {
    medianMs: encRow.medianMs - projT.medianMs,
    minMs: encRow.minMs - projT.medianMs,
    maxMs: encRow.maxMs - projT.medianMs,
    runs: enc.runs,
  };
  rows.push(
    row(
      repo,
      `vision tower, per crop (${crops} crops)`,
      towerT,
      VISION_FLOPS_PER_CROP,
      peak,
      'encode per crop minus projector',
    ),
  );
  rows.push(row(repo, 'projector, per crop', projT, PROJECTOR_FLOPS_PER_CROP, peak));
  rows.push(
    row(
      repo,
      'vision tower + projector, per crop',
      encRow,
      VISION_FLOPS_PER_CROP + PROJECTOR_FLOPS_PER_CROP,
      peak,
    ),
  );
  const features = await m.encodePrepared(prepared, { onProgress: () => {} });
  const tokens = features.layout.tokens.length;
  // image_newline (values do not matter for timing)
  const extra = new Map(m.family.extraTensorNames().map((n) => [n, new Float32Array(TEXT)]));
  rows.push(
    row(
      repo,
      'packing (layout + pack)',
      await timeRuns(opts.repeats, () => {
        const layout = m.family.layout(prepared.pre);
        return m.family.pack(features.cropFeatures, prepared.pre, layout, extra);
      }),
      null,
      peak,
      `${tokens} tokens`,
    ),
  );
  const lensSessionMs: Partial<Record<LensMethod, number>> = {};
  let omp: ModelReport['omp'] = null;
  if (opts.lens) {
    const x = features.features.subarray(0, PATCH_TOKENS * TEXT); // 576 tokens: one 336-px view
    for (const meth of ['dot', 'cosine', 'l2', 'logit', 'logit-raw'] as LensMethod[]) {
      const s0 = performance.now();
      await m.lensEngine.run(x, PATCH_TOKENS, meth, 5); // creates the method's sessions
      lensSessionMs[meth] = performance.now() - s0;
      rows.push(
        row(
          repo,
          `lens ${meth} k=5 (576 tokens x ${VOCAB})`,
          await timeRuns(opts.repeats, () => m.lensEngine.run(x, PATCH_TOKENS, meth, 5)),
          lensFlops(PATCH_TOKENS),
          peak,
        ),
      );
    }
    // OMP k=10: Batch-OMP (the Gram-matrix shortcut, the default) and the residual path (one product per step).
    const ompRuns = Math.max(1, opts.repeats - 1);
    const ompTime = async (gram: boolean): Promise<{ t: Timing; atoms: number }> => {
      m.lensEngine.ompGram = gram;
      const r = await m.lensEngine.run(x, PATCH_TOKENS, 'omp', 10);
      const t = await timeRuns(ompRuns, () => m.lensEngine.run(x, PATCH_TOKENS, 'omp', 10));
      return { t, atoms: new Set(r.ids).size - (r.ids.includes(-1) ? 1 : 0) };
    };
    const gram = await ompTime(true);
    const resid = await ompTime(false);
    m.lensEngine.ompGram = true;
    const dotT = rows.find((r) => r.model === repo && r.stage.startsWith('lens dot'))!.timing!;
    // The original tool's batch_omp: 142.7 s for k=10 on 576 tokens on a 360 GFLOP/s machine, scaled to this
    // machine's MatMul peak.
    const originalHere = 142.7 * (360 / peak);
    omp = {
      gramMs: gram.t.medianMs,
      residualMs: resid.t.medianMs,
      distinctAtoms: gram.atoms,
      dotPasses: gram.t.medianMs / dotT.medianMs,
      vsResidual: resid.t.medianMs / gram.t.medianMs,
      vsOriginal: (originalHere * 1000) / gram.t.medianMs,
    };
    // Batch-OMP's products: α⁰ (one pass) + one Gram row per distinct atom; the per-step [T, U]·[U, V] updates.
    const gramFlops =
      lensFlops(PATCH_TOKENS) * (1 + gram.atoms / PATCH_TOKENS) + 9 * 2 * PATCH_TOKENS * gram.atoms * VOCAB;
    rows.push(
      row(
        repo,
        'lens omp k=10 (576 tokens), Batch-OMP',
        gram.t,
        gramFlops,
        peak,
        `${gram.atoms} distinct atoms`,
      ),
      row(
        repo,
        'lens omp k=10 (576 tokens), residual',
        resid.t,
        10 * lensFlops(PATCH_TOKENS),
        peak,
        '10 correlation passes',
      ),
    );
  }
  await m.analyze(files.photo, { method, k: 5 });
  const warm = await timeRuns(opts.repeats, () => m.analyze(files.photo, { method, k: 5 }));
  rows.push(row(repo, `end to end, warm (${method} k=5, ${tokens} tokens)`, warm, null, peak));
  let batch: ModelReport['batch'] = null;
  if (opts.batch > 0) {
    const bdir = join(tmpdir(), `imgtokens-bench-batch-${process.pid}`);
    rmSync(bdir, { recursive: true, force: true });
    mkdirSync(bdir);
    const images = Array.from({ length: opts.batch }, (_, i) => {
      const p = join(bdir, `photo-${i}.jpg`);
      symlinkSync(files.photo, p);
      return p;
    });
    const stamps: number[] = [];
    const s = await runBatch(m, {
      images,
      out: join(bdir, 'out.jsonl'),
      method,
      k: 5,
      onProgress: (e) => void (e.status === 'progress' && stamps.push(performance.now())),
    });
    // After the first image (worker start-up, first-run allocations): the rate a long batch settles at.
    const steadyIps =
      stamps.length > 1 ? (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000) : NaN;
    rmSync(bdir, { recursive: true, force: true });
    const ips = s.written / s.seconds;
    batch = {
      images: s.written,
      seconds: s.seconds,
      imagesPerSecond: ips,
      vsWarm: ips * (warm.medianMs / 1000),
      steadyImagesPerSecond: steadyIps,
      steadyVsWarm: steadyIps * (warm.medianMs / 1000),
    };
    rows.push(
      row(
        repo,
        `batch, per image (${s.written} images)`,
        { medianMs: (s.seconds * 1000) / s.written, minMs: NaN, maxMs: NaN, runs: 1 },
        null,
        peak,
        `${(ips * 60).toFixed(1)} images/min; after the first: ${(steadyIps * 60).toFixed(1)}`,
      ),
    );
  }
  await m.close();
  let profile: OpProfile | null = null;
  if (opts.profile) {
    log('profiling one crop of the vision graph ...');
    profile = await profileVision(dir, prepared.pre.pixelValues);
  }
  let cold: ModelReport['cold'] = null;
  if (process.env.BENCH_SKIP_COLD !== '1') {
    log('cold start in a fresh process ...');
    cold = await coldStart(dir, files.photo, method, 'cpu', sessionCache);
  }
  return {
    model: name,
    repo,
    crops,
    tokens,
    loadMs,
    loadSteps,
    warmEndToEnd: warm,
    lensSessionMs,
    batch,
    cold,
    needed: await neededBytes(dir),
    profile,
    fresh: freshReport,
    omp,
  };
}

// ---------------------------------------------------------------- output

const f1 = (x: number | null | undefined, d = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d);
const ms = (x: number): string =>
  x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;

function table(rows: StageRow[]): string {
  const head = ['model', 'stage', 'median', 'min / max', 'GFLOP', 'GFLOP/s', '% MatMul', '% BLAS', 'note'];
  const body = rows.map((r) => [
    r.model.replace('llava-hf/', ''),
    r.stage,
    r.timing ? ms(r.timing.medianMs) : '-',
    r.timing && Number.isFinite(r.timing.minMs) ? `${ms(r.timing.minMs)} / ${ms(r.timing.maxMs)}` : '-',
    r.flops ? f1(r.flops / 1e9) : '-',
    f1(r.gflops),
    r.ofPeak !== null ? `${(100 * r.ofPeak).toFixed(0)}%` : '-',
    r.ofBlas !== null ? `${(100 * r.ofBlas).toFixed(0)}%` : '-',
    r.note ?? '',
  ]);
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...body.map((b) => `| ${b.join(' | ')} |`),
  ].join('\n');
}

function machine(): string {
  let cpu = cpus()[0]?.model ?? '?';
  try {
    cpu = execFileSync('lscpu', { encoding: 'utf8' }).match(/Model name:\s+(.*)/)?.[1] ?? cpu;
  } catch {
    /* lscpu missing: keep os.cpus() */
  }
  return `${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, onnxruntime-node ${ort.env.versions.common}, ${process.platform}-${process.arch}`;
}

async function webgpu(): Promise<{ skipped: string } | { peakGflops: number }> {
  if (!availableDevices().some((d) => d.device === 'webgpu'))
    return { skipped: 'this onnxruntime-node build has no WebGPU provider' };
  try {
    const p = await matmulPeak('webgpu');
    return { peakGflops: p.gflops };
  } catch (e) {
    return { skipped: `WebGPU could not start: ${(e as Error).message.split('\n')[0].slice(0, 200)}` };
  }
}

async function main(): Promise<void> {
  const files = await synthesise(log);
  const fam = familyArgs(process.argv.slice(2)); // --families a,b: only those (bench/families.ts), no llava rows
  const which = (
    fam.only ? [] : (process.env.BENCH_MODELS?.split(',') ?? Object.keys(BENCH_MODELS))
  ) as BenchModel[];
  log(`machine: ${machine()}`);
  log(`repeats: ${REPEATS} (BENCH_REPEATS)`);
  const blas = blasPeak();
  BLAS_PEAK = 'gflops' in blas ? blas.gflops : null;
  log(
    'gflops' in blas
      ? `numpy ${blas.numpy} float32 matmul: best ${f1(blas.gflops)} GFLOP/s`
      : blas.unavailable,
  );
  const peak = await matmulPeak();
  log(
    `onnxruntime fp32 MatMul [577x1024]x[1024x4096]: best ${f1(peak.gflops)} GFLOP/s (median ${ms(peak.timing.medianMs)})`,
  );
  const rows: StageRow[] = [
    row(
      '-',
      'MatMul peak [577x1024]x[1024x4096]',
      peak.timing,
      2 * 577 * 1024 * 4096,
      peak.gflops,
      'best run = peak',
    ),
  ];
  const reports: ModelReport[] = [];
  for (const name of which) {
    if (reports.length) log(table(rows));
    const next = name === 'llava-v1.6-vicuna-7b-hf';
    reports.push(
      await benchModel(name, files, peak.gflops, rows, {
        lens: !next, // the lens cost per token is the same; measured on llava-1.5's 576 tokens
        batch: next ? 0 : 4,
        repeats: next ? Math.max(1, REPEATS - 1) : REPEATS,
        profile: !next && process.env.BENCH_SKIP_PROFILE !== '1',
        freshRuns: Math.max(1, Number(process.env.BENCH_FRESH_RUNS ?? 3) - (next ? 1 : 0)),
      }),
    );
  }
  if (reports.length) log(table(rows));
  const families = await benchFamilies(fam, files.photo, peak.gflops, rows, { log, timeRuns, row, table });
  const gpu = await webgpu();
  const out = {
    machine: machine(),
    date: new Date().toISOString(),
    repeats: REPEATS,
    peakGflops: peak.gflops,
    peak: peak.timing,
    blas,
    rows,
    models: reports,
    families,
    webgpu: gpu,
  };
  const jsonPath =
    process.env.BENCH_JSON ?? join(files.dir, 'results', `bench-${out.date.replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(jsonPath, '..'), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(out, null, 2) + '\n');

  const lines = [
    `machine: ${out.machine}`,
    `onnxruntime MatMul peak: ${f1(peak.gflops)} GFLOP/s; BLAS peak: ${'gflops' in blas ? `${f1(blas.gflops)} GFLOP/s (numpy ${blas.numpy})` : blas.unavailable}`,
    '',
  ];
  const freshRows = reports.filter((r) => r.fresh);
  if (freshRows.length) {
    lines.push(
      'fresh process of the built CLI, `imgtokens <photo> --method cosine -k 5 --json <file> -q` (wall = spawn to exit, the JSON written just before; peak RSS = VmHWM):',
      '| model | first run (cache empty) | later runs (median) | cache off | session cache on disk |',
      '|---|---|---|---|---|',
    );
    const fr = (x: FreshRun): string =>
      x.resultMs === x.wallMs
        ? `${ms(x.wallMs)}, ${mb(x.peakRss)}`
        : `${ms(x.resultMs)} (wall ${ms(x.wallMs)}), ${mb(x.peakRss)}`;
    for (const r of freshRows) {
      const f = r.fresh!;
      lines.push(
        `| ${r.repo.replace('llava-hf/', '')} | ${fr(f.first)} | ${fr(f.laterMedian)} (${f.later.length} runs: ${f.later.map((x) => ms(x.wallMs)).join(', ')}) | ${fr(f.off)} | ${mb(f.cacheBytes)} |`,
      );
    }
    for (const r of freshRows) {
      const f = r.fresh!;
      if (!f.peerMs?.length) continue;
      const peer = medianRun(f.peerMs.map((w) => ({ wallMs: w, resultMs: w, peakRss: 0 }))).wallMs;
      lines.push(
        '',
        `transformers peer (BENCH_PEER), ${r.repo}: median wall ${ms(peer)} (${f.peerMs.map(ms).join(', ')}); imgtokens later runs ${ms(f.laterMedian.wallMs)}: ${(peer / f.laterMedian.wallMs).toFixed(2)}x faster`,
      );
    }
    lines.push('');
  }
  lines.push(table(rows), '');
  for (const r of reports) {
    if (!r.omp) continue;
    const o = r.omp;
    lines.push(
      `OMP k=10, 576 tokens (${r.repo}): Batch-OMP ${ms(o.gramMs)} = ${f1(o.dotPasses)} dot passes' worth, ${f1(o.vsResidual)}x the residual path (${ms(o.residualMs)}), ${f1(o.vsOriginal)}x the original batch_omp (142.7 s at 360 GFLOP/s, scaled to this peak); ${o.distinctAtoms} distinct atoms`,
    );
  }
  lines.push('');
  for (const r of reports) {
    lines.push(`${r.repo}: ${r.crops} crops, ${r.tokens} tokens`);
    lines.push(
      `  load (warm process) ${ms(r.loadMs)}: ${Object.entries(r.loadSteps)
        .map(([k, v]) => `${k} ${ms(v)}`)
        .join(', ')}`,
    );
    if (Object.keys(r.lensSessionMs).length)
      lines.push(
        `  lens first run (session creation incl.): ${Object.entries(r.lensSessionMs)
          .map(([k, v]) => `${k} ${ms(v)}`)
          .join(', ')}`,
      );
    if (r.cold) {
      const c = r.cold;
      // To the first (cosine) result: read() bytes plus the ranges onnxruntime maps, vs what cosine needs.
      const n = r.needed;
      const readBytes = c.ioEnd && c.ioStart ? c.ioEnd.rchar - c.ioStart.rchar : NaN;
      const need = n.tensors - n.lmHead + n.headers + n.small + statSync(files.photo).size;
      lines.push(
        `  cold start to first result ${ms(c.firstResultMs)} (process wall ${ms(c.wallMs)}; imports ${ms(c.importedMs)}, load ${ms(c.loadedMs - c.importedMs)}, first image ${ms(c.firstImageMs)}) vs warm ${ms(r.warmEndToEnd.medianMs)}: +${ms(c.firstResultMs - r.warmEndToEnd.medianMs)}`,
      );
      lines.push(
        `  peak RSS ${mb(c.maxRssBytes)} (${mb(c.maxRssLoadedBytes)} by the end of loading, RSS then ${mb(c.rssLoadedBytes)}); bytes read to the first result ${mb(readBytes)} by read() + ${mb(n.mapped)} mapped in place by onnxruntime = ${mb(readBytes + n.mapped)} (needed for cosine: tensors but lm_head ${mb(n.tensors - n.lmHead)} + headers ${n.headers} B + small files and the image ${mb(need - n.tensors + n.lmHead - n.headers)} = ${mb(need)}; excess ${f1((readBytes + n.mapped - need) / 1e6, 2)} MB); whole process rchar ${mb(c.ioEnd?.rchar ?? NaN)}, read_bytes from disk ${mb(c.ioEnd?.readBytes ?? NaN)}`,
      );
    }
    if (r.batch)
      lines.push(
        `  batch ${r.batch.images} images in ${ms(r.batch.seconds * 1000)}: ${f1(r.batch.imagesPerSecond * 60)} images/min = ${(100 * r.batch.vsWarm).toFixed(0)}% of 1 / warm time; after the first image ${f1(r.batch.steadyImagesPerSecond * 60)} images/min = ${(100 * r.batch.steadyVsWarm).toFixed(0)}%`,
      );
    if (r.profile) {
      lines.push(`  vision graph profile, 1 crop (${ms(r.profile.totalMs)} of kernels):`);
      lines.push(
        `    by op:   ${r.profile.byOp
          .slice(0, 8)
          .map((o) => `${o.op} ${(100 * o.share).toFixed(1)}%`)
          .join(', ')}`,
      );
      lines.push(
        `    by part: ${r.profile.byPart
          .slice(0, 10)
          .map((o) => `${o.part} ${(100 * o.share).toFixed(1)}%`)
          .join(', ')}`,
      );
    }
  }
  lines.push(
    '',
    'webgpu' in out && 'skipped' in gpu
      ? `--device webgpu: skipped (${gpu.skipped})`
      : `--device webgpu: MatMul peak ${f1((gpu as { peakGflops: number }).peakGflops)} GFLOP/s`,
  );
  lines.push(`JSON: ${jsonPath}`);
  process.stdout.write(lines.join('\n') + '\n');
}

// `npm run bench -- deep`: the whole deep lens and its --dtype q8/q4 fast path (bench/deep-run.ts) instead of the
// stage bench. (bench/deep.ts, run directly, times one decoder layer on its own.)
if (process.argv[2] === 'deep') await (await import('./deep-run.js')).deepBench();
else await main();
