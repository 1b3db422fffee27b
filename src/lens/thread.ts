/**
 * LensThread: a Lens (src/lens/lens.ts) that lives in a worker thread of its own (src/lens/thread-worker.ts).
 *
 * Why: onnxruntime-node creates and runs a session on the calling thread, so in one thread a process builds the
 * vision session, decodes and preprocesses, runs the tower, and only then builds the lens's projection session
 * (packing the vocabulary matrix, or casting it from the checkpoint when there is no cache entry): one after
 * another, with the second core idle through every single-threaded step. With the lens in its own thread, its
 * sessions are built while this thread builds the vision session and preprocesses. It pays where sessions take
 * long to build (pre-packed weights: batch; the session cache off); sessions that map unpacked weights from the
 * cache build in about 0.07 s and leave it nothing to overlap (docs/bench.md).
 *
 * Calls, OMP's progress events and typed errors cross the thread as messages (errors as src/errors.ts
 * errorToData / errorFromData); features and results are copied (a crop's features: 9.4 MB, a few ms).
 */
import type { Worker } from 'node:worker_threads';
import { ClosedError, errorFromData, type ErrorData } from '../errors.js';
import type { LensMethod } from '../lens-methods.js';
import type { ProgressCallback, ProgressEvent } from '../progress.js';
import type { TopK } from '../types.js';
import { startModuleWorker } from '../util/worker.js';
import type { LensCreateOptions, LensEngine } from './lens.js';

/** LensCreateOptions as they cross the thread: the session cache as its folder (or null for none). */
export type LensThreadInit = Omit<LensCreateOptions, 'sessionCache'> & { sessionCacheDir: string | null };

export type LensCall =
  | {
      op: 'run';
      features: Float32Array;
      tokens: number;
      method: LensMethod;
      k: number;
      excludeMask: Uint8Array | null;
    }
  | { op: 'prepare'; methods: LensMethod[] }
  | { op: 'embeddingRows'; ids: number[] }
  | { op: 'finalNorm'; features: Float32Array; tokens: number }
  | { op: 'ompGram'; value: boolean }
  | { op: 'release' };

export type ToLensThread = { id: number; call: LensCall };
export type FromLensThread =
  | { id: number; type: 'result'; value: unknown }
  | { id: number; type: 'error'; error: ErrorData }
  | { id: number; type: 'progress'; event: ProgressEvent };

export class LensThread implements LensEngine {
  readonly vocab: number;
  readonly hidden: number;
  private gram: boolean;
  private readonly worker: Worker;
  private readonly calls = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: ProgressCallback }
  >();
  private nextId = 0;
  private failed: Error | null = null;

  private constructor(init: LensThreadInit) {
    this.vocab = init.vocab;
    this.hidden = init.hidden;
    this.gram = init.ompGram ?? true;
    this.worker = startModuleWorker(import.meta.url, 'thread-worker', init);
    this.worker.unref(); // an idle lens thread never keeps the process alive
    this.worker.on('message', (m: FromLensThread) => {
      const c = this.calls.get(m.id);
      if (m.type === 'progress') return c?.onProgress?.(m.event);
      this.calls.delete(m.id);
      if (m.type === 'result') c?.resolve(m.value);
      else c?.reject(errorFromData(m.error));
    });
    const fail = (e: Error): void => {
      this.failed = e;
      for (const c of this.calls.values()) c.reject(e);
      this.calls.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', () => fail(new ClosedError('the lens thread exited')));
  }

  /** Starts the thread; the lens's options are checked there (a bad shape rejects the first call). */
  static start(init: LensThreadInit): LensThread {
    return new LensThread(init);
  }

  private call<T>(call: LensCall, onProgress?: ProgressCallback): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.worker.ref(); // a call in flight keeps the process alive until it answers
      this.worker.postMessage({ id, call } satisfies ToLensThread);
    }).finally(() => {
      if (this.calls.size === 0) this.worker.unref();
    });
  }

  get ompGram(): boolean {
    return this.gram;
  }
  set ompGram(value: boolean) {
    this.gram = value;
    void this.call({ op: 'ompGram', value }).catch(() => undefined); // messages keep their order
  }

  prepare(methods: readonly LensMethod[]): Promise<void> {
    return this.call({ op: 'prepare', methods: [...methods] });
  }

  run(
    ...[features, tokens, method, k, excludeMask, onProgress]: Parameters<LensEngine['run']>
  ): Promise<TopK> {
    return this.call(
      { op: 'run', features, tokens, method, k, excludeMask: excludeMask ?? null },
      onProgress,
    );
  }

  embeddingRows(ids: readonly number[]): Promise<Float32Array> {
    return this.call({ op: 'embeddingRows', ids: [...ids] });
  }

  finalNorm(features: Float32Array, tokens: number): Promise<Float32Array> {
    return this.call({ op: 'finalNorm', features, tokens });
  }

  /** Frees the sessions and ends the thread. */
  async release(): Promise<void> {
    if (this.failed) return;
    await this.call({ op: 'release' });
    this.failed = new ClosedError('the lens was released');
    await this.worker.terminate();
  }
}
