/**
 * An ImgTokensModel whose model lives in a worker thread (src/server/model-worker.ts), for the server:
 * analyses compute off the event loop, so health checks and other requests answer meanwhile. Calls, progress
 * events and typed errors (kind, message, hint) cross the thread as messages; an AbortSignal given to encode /
 * analyze is forwarded, so the queue's timeout stops the work at its next stage.
 */
import { startModuleWorker } from '../util/worker.js';
import type {
  DeepResult,
  Device,
  EncodeOptions,
  ImageBackend,
  ImgTokensModel,
  LoadOptions,
  ModelInfo,
  Reference,
} from '../api.js';
import { ClosedError, errorFromData, type ErrorData } from '../errors.js';
import type { ProgressCallback, ProgressEvent } from '../progress.js';
import type { ImageFeatures, ImageInput, LensOptions, ResultJson } from '../types.js';

export interface WorkerData {
  model: string;
  revision?: string;
  device?: Device;
  imageBackend?: ImageBackend;
  reference?: Reference;
}
/** Errors cross the thread as plain data, class and fields kept (src/errors.ts errorToData / errorFromData). */
export type WorkerError = ErrorData;
export type ToWorker =
  | {
      type: 'call';
      id: number;
      method: 'encode' | 'lens' | 'analyze' | 'deep';
      image?: unknown;
      features?: unknown;
      opts: unknown;
    }
  | { type: 'abort'; id: number }
  | { type: 'close' };
export type FromWorker =
  | { type: 'progress'; id?: number; event: ProgressEvent }
  | { type: 'ready'; info: ModelInfo }
  | { type: 'load-error'; error: WorkerError }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: WorkerError }
  | { type: 'closed' };

/** Loads `model` in a worker thread; resolves once it is ready (or rejects with the load error). */
export function loadModelInWorker(
  model: string,
  opts: Pick<LoadOptions, 'revision' | 'device' | 'imageBackend' | 'reference' | 'onProgress'> = {},
): Promise<ImgTokensModel> {
  const { onProgress: _progress, ...data } = opts; // everything but the callback crosses to the thread
  const worker = startModuleWorker(import.meta.url, 'model-worker', { model, ...data } satisfies WorkerData);
  const calls = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: ProgressCallback }
  >();
  let nextId = 0;
  let closed = false;
  let onClosed: (() => void) | undefined;
  return new Promise<ImgTokensModel>((resolveLoad, rejectLoad) => {
    const call = (
      method: 'encode' | 'lens' | 'analyze' | 'deep',
      payload: { image?: ImageInput; features?: ImageFeatures },
      o: (EncodeOptions & Partial<LensOptions>) | LensOptions,
    ): Promise<unknown> => {
      if (closed) return Promise.reject(new ClosedError(`${model}: ${method}() called after close()`));
      const id = nextId++;
      const { onProgress, signal, ...rest } = o as EncodeOptions & LensOptions;
      return new Promise((resolve, reject) => {
        calls.set(id, { resolve, reject, onProgress });
        if (signal) {
          if (signal.aborted) worker.postMessage({ type: 'abort', id } satisfies ToWorker);
          else
            signal.addEventListener('abort', () =>
              worker.postMessage({ type: 'abort', id } satisfies ToWorker),
            );
        }
        worker.postMessage({ type: 'call', id, method, ...payload, opts: rest } satisfies ToWorker);
      });
    };
    let proxy: ImgTokensModel | undefined;
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'progress') {
        if (m.id === undefined) opts.onProgress?.(m.event);
        else calls.get(m.id)?.onProgress?.(m.event);
      } else if (m.type === 'ready') {
        proxy = {
          info: m.info,
          encode: (image, o = {}) => call('encode', { image }, o) as Promise<ImageFeatures>,
          lens: (features, o) => call('lens', { features }, o) as Promise<ResultJson>,
          analyze: (image, o) => call('analyze', { image }, o) as Promise<ResultJson>,
          deep: (features, o = {}) => call('deep', { features }, o) as Promise<DeepResult>,
          close: async () => {
            if (closed) return;
            closed = true;
            await new Promise<void>((r) => {
              onClosed = r;
              worker.postMessage({ type: 'close' } satisfies ToWorker);
            });
            await worker.terminate();
          },
        };
        resolveLoad(proxy);
      } else if (m.type === 'load-error') {
        void worker.terminate();
        rejectLoad(errorFromData(m.error));
      } else if (m.type === 'result' || m.type === 'error') {
        const c = calls.get(m.id);
        calls.delete(m.id);
        if (m.type === 'result') c?.resolve(m.value);
        else c?.reject(errorFromData(m.error));
      } else if (m.type === 'closed') onClosed?.();
    });
    worker.on('error', (e) => {
      rejectLoad(e);
      for (const c of calls.values()) c.reject(e);
      calls.clear();
      onClosed?.();
    });
    worker.on('exit', () => {
      closed = true;
      for (const c of calls.values()) c.reject(new ClosedError(`${model}: the model thread exited`));
      calls.clear();
      onClosed?.();
    });
  });
}
