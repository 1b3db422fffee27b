/**
 * The batch's decode + preprocess thread: receives {id, path, processor, exifTranspose}, answers with the
 * decoded RGB and the preprocessed crops (or the error's message), so the main thread, busy inside onnxruntime
 * with the previous image, never waits for them. The family registry gives the processor for the spec's type; nothing
 * here imports onnxruntime (the families' graph code builds ONNX bytes only).
 */
import { parentPort } from 'node:worker_threads';
import { ImgTokensError } from '../errors.js';
import { decodeImage } from '../image/decode.js';
import { preprocessImage } from '../families/index.js';
import type { ProcessorSpec } from '../image/processor.js';
import type { PrepareReply, PrepareRequest } from './preparer.js';

const port = parentPort;
if (!port) throw new Error('prepare-worker.ts runs as a worker thread');

port.on('message', (req: PrepareRequest & { processor: ProcessorSpec }) => {
  void (async () => {
    let reply: PrepareReply;
    try {
      const d = await decodeImage(req.path, { exifTranspose: req.exifTranspose, name: req.path });
      reply = {
        id: req.id,
        ok: true,
        rgb: d.image,
        pre: preprocessImage(d.image, req.processor),
        notices: d.notices,
      };
    } catch (e) {
      const hint = e instanceof ImgTokensError ? e.hint : undefined;
      reply = { id: req.id, ok: false, message: e instanceof Error ? e.message : String(e), hint };
    }
    port.postMessage(reply);
  })();
});
