/**
 * The server's model thread: loads one model (workerData) and runs encode / lens / analyze calls posted by
 * src/server/worker-model.ts. onnxruntime-node runs a session on the calling thread and preprocessing is
 * JavaScript, so running them here keeps the server's event loop free: /healthz, /readyz and /api/stats answer
 * while an analysis computes, and an abort message stops a call at its next stage.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { EncodeOptions } from '../api.js';
import { errorToData } from '../errors.js';
import { loadModel, type Model } from '../model.js';
import type { ProgressEvent } from '../progress.js';
import type { ImageFeatures, ImageInput, LensOptions } from '../types.js';
import type { FromWorker, ToWorker, WorkerData } from './worker-model.js';

const port = parentPort;
if (!port) throw new Error('model-worker.ts runs as a worker thread');
const post = (m: FromWorker): void => port.postMessage(m);

const data = workerData as WorkerData;
const aborts = new Map<number, AbortController>();
let model: Model | undefined;

const loading = loadModel(data.model, {
  revision: data.revision,
  device: data.device,
  imageBackend: data.imageBackend,
  reference: data.reference,
  onProgress: (event: ProgressEvent) => post({ type: 'progress', event }),
}).then(
  (m) => {
    model = m;
    post({ type: 'ready', info: m.info });
  },
  (e: unknown) => post({ type: 'load-error', error: errorToData(e) }),
);

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'abort') return aborts.get(msg.id)?.abort(new Error('the analysis timed out'));
  if (msg.type === 'close') {
    void loading
      .then(() => model?.close())
      .finally(() => {
        post({ type: 'closed' });
        port.close();
      });
    return;
  }
  const { id } = msg;
  const controller = new AbortController();
  aborts.set(id, controller);
  const onProgress = (event: ProgressEvent): void => post({ type: 'progress', id, event });
  void (async () => {
    try {
      if (!model) throw new Error('the model is not loaded');
      const opts = { ...(msg.opts as LensOptions & EncodeOptions), onProgress, signal: controller.signal };
      let value: unknown;
      if (msg.method === 'encode') value = await model.encode(msg.image as ImageInput, opts);
      else if (msg.method === 'lens') value = await model.lens(msg.features as ImageFeatures, opts);
      else if (msg.method === 'deep') value = await model.deep(msg.features as ImageFeatures, opts);
      else value = await model.analyze(msg.image as ImageInput, opts);
      post({ type: 'result', id, value });
    } catch (e) {
      post({ type: 'error', id, error: errorToData(e) });
    } finally {
      aborts.delete(id);
    }
  })();
});
