/**
 * A thin wrapper over onnxruntime-node: create a session from model bytes (from src/graph), on the CPU by
 * default or on 'webgpu' / 'cuda' when the installed onnxruntime-node provides them, and run it with named
 * inputs, getting named outputs back with their shapes checked by type.
 */
import * as ort from 'onnxruntime-node';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError, ImgTokensError } from '../errors.js';
import { numel, shapeStr, type Shape } from '../util/shape.js';
import { MODEL_FILE, WEIGHTS_FILE, type SessionCache } from './session-cache.js';

export type Device = 'cpu' | 'webgpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'cuda'];

export interface SessionOptions {
  /** Execution provider; nodes it cannot run fall back to the CPU. Default 'cpu'. */
  device?: Device;
  /** Intra-op threads; 0 or undefined lets onnxruntime pick (one per physical core). */
  intraOpThreads?: number;
  /**
   * Whether onnxruntime's intra-op threads spin while waiting for work (onnxruntime's default: yes). Default
   * here: no, or IMGTOKENS_ORT_SPINNING=1. Measured on the shared 2-core dev machine, llava-1.5-7b's vision graph
   * loaded from the session cache and run 3 times in a fresh process, 5 paired runs: spinning off used 0.80x the
   * CPU time (median 9.9 s vs 12.1 s) at the same wall time (ratio 1.03, 0.71-1.25); the ops of these graphs
   * are large, so the wake-up latency spinning saves is small, while the cores it burns are shared.
   */
  spinning?: boolean;
  /**
   * onnxruntime's CPU memory arena (default on). Off for graphs fed a different large input each run (the deep
   * lens' decoder layer, whose weights are inputs): the arena keeps its peak for the session's life.
   */
  memArena?: boolean;
  /**
   * Whether onnxruntime pre-packs the constant MatMul / Gemm weights at session creation (its default, and the
   * default here) or leaves them as they are and packs panels during each run (onnxruntime's
   * session.disable_prepacking). Pre-packing costs at creation what it saves per run: llava-1.5-7b's vision graph
   * from the session cache on the 2-core dev machine, created in 0.63 s pre-packed or 0.07 s not, each tower run
   * 1.20 s or 1.34 s (best of 3). So a process that analyses one image starts faster without it (the CLI's
   * one-image analyze), one that analyses many (batch, serve, the library) with it.
   */
  prepack?: boolean;
  /** ORT graph optimisation level (default 'all': constant folding of weight casts/transposes, fusions). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT log severity: 0 verbose ... 4 fatal (default 3, errors only). */
  logLevel?: 0 | 1 | 2 | 3 | 4;
  /** The folder that external-data initializers' locations are relative to (see GraphBuilder.initializer). */
  externalDataDir?: string;
  /**
   * Keep what onnxruntime builds in this cache and load it from there next time (src/runtime/session-cache.ts).
   * CPU only. A graph with external data is cached only when `externalFiles` names every file it reads.
   */
  cache?: SessionCache | null;
  /** The absolute paths of the files the graph's external data lives in (part of the cache key). */
  externalFiles?: readonly string[];
  /** What the session is, for `imgtokens cache ls` ("vision llava-hf/llava-1.5-7b-hf"). */
  cacheLabel?: string;
  /**
   * Return the session once built and finish storing its new cache entry (fsync, hashes, rename) in the
   * background; settleSessionCache() waits for every such write (Model.close does). The first run of the CLI
   * thereby writes its entries while it preprocesses and runs the tower instead of before (llava-1.5-7b shapes on
   * the 2-core dev machine: a 1.25 GB entry's fsync alone takes about 3.6 s). Default: wait.
   */
  sealInBackground?: boolean;
}

/** Cache writes still going on (SessionOptions.sealInBackground). */
const pendingSeals = new Set<Promise<void>>();

/** Waits for every cache entry this thread is still writing. */
export async function settleSessionCache(): Promise<void> {
  while (pendingSeals.size > 0) await Promise.all([...pendingSeals]);
}

/**
 * How a session came to be: built from the graph with no cache ('off'), loaded from a verified cache entry
 * ('hit'), built and stored ('stored'), built and stored in place of a broken or stale entry ('rebuilt'), or
 * built while another process stored the same entry first or the store failed ('built').
 */
export type CacheStatus = 'off' | 'hit' | 'stored' | 'rebuilt' | 'built';

/** Typed arrays that can be fed to or read from a session. */
export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

/** A named tensor's data and shape, row-major. */
export interface NamedTensor<T extends TensorData = TensorData> {
  data: T;
  shape: number[];
}

export type Feeds = Record<string, NamedTensor>;

/** Which Device names onnxruntime-node's binary knows and whether their libraries ship with it. */
export function availableDevices(): Array<{ device: Device; bundled: boolean }> {
  const out: Array<{ device: Device; bundled: boolean }> = [];
  for (const b of ort.listSupportedBackends()) {
    if ((DEVICES as readonly string[]).includes(b.name))
      out.push({ device: b.name as Device, bundled: b.bundled });
  }
  return out;
}

function ortTensor(name: string, t: NamedTensor): ort.Tensor {
  if (numel(t.shape) !== t.data.length) {
    throw new BadInputError(
      `session input ${name}: shape ${shapeStr(t.shape)} needs ${numel(t.shape)} values, got ${t.data.length}`,
    );
  }
  if (t.data instanceof Float32Array) return new ort.Tensor('float32', t.data, t.shape);
  if (t.data instanceof Int32Array) return new ort.Tensor('int32', t.data, t.shape);
  if (t.data instanceof BigInt64Array) return new ort.Tensor('int64', t.data, t.shape);
  if (t.data instanceof Uint16Array) return new ort.Tensor('float16', t.data, t.shape);
  return new ort.Tensor('uint8', t.data, t.shape);
}

/** Outputs of one run, read by name with a type check. */
export class SessionOutputs {
  constructor(private readonly values: ReadonlyMap<string, NamedTensor>) {}

  names(): string[] {
    return [...this.values.keys()];
  }

  get(name: string): NamedTensor {
    const v = this.values.get(name);
    if (!v) throw new Error(`session output "${name}" was not fetched (have: ${this.names().join(', ')})`);
    return v;
  }

  /** A float32 output, optionally checking its shape (-1 matches any size). */
  f32(name: string, expectShape?: Shape): NamedTensor<Float32Array> {
    return this.typed(name, Float32Array, 'float32', expectShape);
  }

  /** An int64 output (e.g. TopK indices). */
  i64(name: string, expectShape?: Shape): NamedTensor<BigInt64Array> {
    return this.typed(name, BigInt64Array, 'int64', expectShape);
  }

  private typed<T extends TensorData>(
    name: string,
    ctor: abstract new (...args: never[]) => T,
    label: string,
    expectShape?: Shape,
  ): NamedTensor<T> {
    const v = this.get(name);
    if (!(v.data instanceof ctor)) throw new Error(`session output "${name}" is not ${label}`);
    if (expectShape) {
      const ok =
        v.shape.length === expectShape.length && expectShape.every((d, i) => d === -1 || d === v.shape[i]);
      if (!ok) {
        throw new Error(
          `session output "${name}": expected shape ${shapeStr(expectShape)}, got ${shapeStr(v.shape)}`,
        );
      }
    }
    return v as NamedTensor<T>;
  }
}

export class Session {
  /** Why the session was not (or was) built from scratch; see CacheStatus. */
  cacheStatus: CacheStatus = 'off';
  /** For 'rebuilt': what was wrong with the entry. */
  cacheProblem?: string;

  private constructor(
    private readonly inner: ort.InferenceSession,
    readonly device: Device,
  ) {}

  /**
   * Creates a session from ONNX model bytes, through `opts.cache` when given. Throws BadInputError when `device`
   * is unavailable here.
   */
  static async create(model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const cache = opts.cache;
    const device = opts.device ?? 'cpu';
    if (!cache || device !== 'cpu' || (opts.externalDataDir && !opts.externalFiles)) {
      return Session.build(model, opts);
    }
    const level = opts.graphOptimizationLevel ?? 'all';
    const { key, parts } = await cache.keyOf(model, opts.externalFiles ?? [], { device, level });
    const found = await cache.lookup(key, parts);
    let problem = found.kind === 'rebuilt' ? found.reason : undefined;
    if (found.kind === 'hit') {
      try {
        // Already optimised: loading it with optimisations on would only redo them.
        const s = await Session.build(found.modelPath, { ...opts, graphOptimizationLevel: 'disabled' });
        s.cacheStatus = 'hit';
        return s;
      } catch (e) {
        problem = `onnxruntime could not load it: ${(e as Error).message.split('\n')[0]}`;
        await cache.discard(key); // rebuild it
      }
    }
    const tmp = await cache.tempDir(key);
    const t0 = performance.now();
    let s: Session;
    try {
      s = await Session.build(model, opts, {
        optimizedModelFilePath: join(tmp, MODEL_FILE),
        extra: {
          session: {
            optimized_model_external_initializers_file_name: WEIGHTS_FILE,
            optimized_model_external_initializers_min_size_in_bytes: '1024',
          },
        },
      });
    } catch {
      // Saving failed (disk full, the folder removed under us): build without it; a graph that onnxruntime
      // refuses fails here again with its own error.
      await rm(tmp, { recursive: true, force: true });
      const s = await Session.build(model, opts);
      s.cacheStatus = 'built';
      return s;
    }
    s.cacheProblem = problem;
    const sealing = cache
      .seal(tmp, key, parts, opts.cacheLabel ?? 'session', (performance.now() - t0) / 1000)
      .then((stored) => {
        s.cacheStatus = !stored ? 'built' : problem !== undefined ? 'rebuilt' : 'stored';
      });
    if (opts.sealInBackground) {
      s.cacheStatus = problem !== undefined ? 'rebuilt' : 'stored'; // 'built' if the write then fails
      pendingSeals.add(sealing);
      void sealing.finally(() => pendingSeals.delete(sealing));
    } else {
      await sealing;
    }
    return s;
  }

  /** Creates a session from model bytes or a model file; `save` adds onnxruntime's save-the-optimised-model options. */
  private static async build(
    model: Uint8Array | string,
    opts: SessionOptions,
    save?: { optimizedModelFilePath: string; extra: { session: Record<string, string> } },
  ): Promise<Session> {
    const device = opts.device ?? 'cpu';
    if (!DEVICES.includes(device)) {
      throw new BadInputError(`unknown device "${String(device)}"`, {
        hint: `use one of: ${DEVICES.join(', ')}`,
      });
    }
    if (device !== 'cpu' && !availableDevices().some((d) => d.device === device)) {
      throw new BadInputError(
        `device "${device}" is not supported by this onnxruntime-node build on ${process.platform}-${process.arch}`,
        {
          hint: `available: ${availableDevices()
            .map((d) => d.device)
            .join(', ')}; use --device cpu`,
        },
      );
    }
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [device],
      graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
      logSeverityLevel: opts.logLevel ?? 3,
    };
    if (opts.intraOpThreads) options.intraOpNumThreads = opts.intraOpThreads;
    if (opts.memArena === false) options.enableCpuMemArena = false;
    const spinning = opts.spinning ?? process.env.IMGTOKENS_ORT_SPINNING === '1';
    const sessionExtra: Record<string, string> = {
      ...save?.extra.session,
      // onnxruntime_session_options_config_keys.h: kOrtSessionOptionsConfigAllowIntraOpSpinning
      'intra_op.allow_spinning': spinning ? '1' : '0',
      // kOrtSessionOptionsConfigDisablePrepacking (the node binding prefixes these keys with "session.")
      ...(opts.prepack === false ? { disable_prepacking: '1' } : {}),
    };
    if (opts.externalDataDir && typeof model !== 'string') {
      // onnxruntime's key for models loaded from bytes (onnxruntime_session_options_config_keys.h).
      sessionExtra.model_external_initializers_file_folder_path = opts.externalDataDir;
    }
    options.extra = { session: sessionExtra };
    if (save) options.optimizedModelFilePath = save.optimizedModelFilePath;
    try {
      const inner =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, options)
          : await ort.InferenceSession.create(model, options);
      return new Session(inner, device);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (device !== 'cpu') {
        throw new BadInputError(`could not start onnxruntime on device "${device}": ${msg}`, {
          cause: e,
          hint:
            device === 'cuda'
              ? 'the CUDA provider needs an NVIDIA GPU with CUDA 12 + cuDNN 9 and the onnxruntime-node CUDA binaries (reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL_CUDA=v12); or use --device cpu'
              : 'WebGPU needs a GPU with Vulkan/Metal/D3D12 drivers; or use --device cpu',
        });
      }
      throw new ImgTokensError('internal', `onnxruntime could not load the generated graph: ${msg}`, {
        cause: e,
      });
    }
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  /** Runs the graph; fetches `fetch` (default: every output). */
  async run(feeds: Feeds, fetch: readonly string[] = this.inner.outputNames): Promise<SessionOutputs> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.inner.inputNames) {
      const t = feeds[name];
      if (!t) throw new BadInputError(`session input "${name}" was not given`);
      ortFeeds[name] = ortTensor(name, t);
    }
    for (const name of Object.keys(feeds)) {
      if (!this.inner.inputNames.includes(name)) {
        throw new BadInputError(
          `session has no input "${name}" (inputs: ${this.inner.inputNames.join(', ')})`,
        );
      }
    }
    for (const name of fetch) {
      if (!this.inner.outputNames.includes(name)) {
        throw new Error(`session has no output "${name}" (outputs: ${this.inner.outputNames.join(', ')})`);
      }
    }
    const res = await this.inner.run(ortFeeds, [...fetch]);
    const out = new Map<string, NamedTensor>();
    for (const name of fetch) {
      const t = res[name] as ort.Tensor;
      out.set(name, { data: t.data as TensorData, shape: [...t.dims] });
    }
    return new SessionOutputs(out);
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}
