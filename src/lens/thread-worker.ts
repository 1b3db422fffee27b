/**
 * The lens thread (started by src/lens/thread.ts): one Lens built from workerData, answering the calls posted to
 * it one at a time, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorToData } from '../errors.js';
import { settleSessionCache } from '../runtime/session.js';
import { SessionCache } from '../runtime/session-cache.js';
import { Lens } from './lens.js';
import type { FromLensThread, LensThreadInit, ToLensThread } from './thread.js';

const port = parentPort;
if (!port) throw new Error('thread-worker.ts runs as a worker thread');
const post = (m: FromLensThread): void => port.postMessage(m);

const { sessionCacheDir, ...init } = workerData as LensThreadInit;
let lens: Lens | null = null;
let createError: unknown = null;
try {
  lens = Lens.create({ ...init, sessionCache: sessionCacheDir ? new SessionCache(sessionCacheDir) : null });
} catch (e) {
  createError = e; // reported to every call
}

let queue: Promise<void> = Promise.resolve();
port.on('message', ({ id, call }: ToLensThread) => {
  queue = queue.then(async () => {
    try {
      if (!lens) throw createError;
      let value: unknown;
      switch (call.op) {
        case 'run':
          value = await lens.run(call.features, call.tokens, call.method, call.k, call.excludeMask, (event) =>
            post({ id, type: 'progress', event }),
          );
          break;
        case 'prepare':
          value = await lens.prepare(call.methods);
          break;
        case 'embeddingRows':
          value = await lens.embeddingRows(call.ids);
          break;
        case 'finalNorm':
          value = await lens.finalNorm(call.features, call.tokens);
          break;
        case 'ompGram':
          lens.ompGram = call.value;
          break;
        case 'release':
          await lens.release();
          await settleSessionCache(); // the entries it is still writing
          break;
      }
      post({ id, type: 'result', value }); // copied: onnxruntime's output buffers need not be detachable
    } catch (e) {
      post({ id, type: 'error', error: errorToData(e) });
    }
  });
});
