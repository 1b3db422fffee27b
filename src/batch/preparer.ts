/**
 * Decode + preprocess for the batch, off the main thread. onnxruntime-node runs a session synchronously on the
 * calling (main) thread, so preparing image i+1 "while" image i computes needs another thread: a worker running
 * src/batch/prepare-worker.ts. `inline` calls the model's own prepare on the main thread (sharp's decode still runs
 * on libuv's pool), on request.
 */
import { startModuleWorker } from '../util/worker.js';
import { BadInputError } from '../errors.js';
import type { PreprocessResult, ProcessorSpec } from '../image/processor.js';
import type { PreparedImage } from '../model.js';
import type { ProgressCallback } from '../progress.js';
import type { RgbImage } from '../types.js';

export interface PrepareRequest {
  id: number;
  path: string;
  exifTranspose: boolean;
}

export type PrepareReply =
  | { id: number; ok: true; rgb: RgbImage; pre: PreprocessResult; notices: string[] }
  | { id: number; ok: false; message: string; hint?: string };

export interface Prepared {
  image: PreparedImage;
  notices: string[];
}

export interface Preparer {
  prepare(path: string): Promise<Prepared>;
  close(): Promise<void>;
}

export type PrepareMode = 'worker' | 'inline';

class WorkerPreparer implements Preparer {
  private readonly worker = startModuleWorker(import.meta.url, 'prepare-worker');
  private readonly waiting = new Map<number, (r: PrepareReply) => void>();
  private nextId = 0;
  private failed: Error | null = null;

  constructor(
    private readonly processor: ProcessorSpec,
    private readonly exifTranspose: boolean,
  ) {
    this.worker.on('message', (r: PrepareReply) => {
      const done = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      done?.(r);
    });
    this.worker.on('error', (e) => {
      this.failed = e;
      for (const [id, done] of this.waiting)
        done({ id, ok: false, message: `preprocess worker: ${e.message}` });
      this.waiting.clear();
    });
  }

  async prepare(path: string): Promise<Prepared> {
    if (this.failed) throw this.failed;
    const id = this.nextId++;
    const reply = await new Promise<PrepareReply>((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ id, path, exifTranspose: this.exifTranspose, processor: this.processor });
    });
    if (!reply.ok) throw new BadInputError(reply.message, { hint: reply.hint });
    return { image: { rgb: reply.rgb, pre: reply.pre }, notices: reply.notices };
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** What an inline preparer needs of the model (Model.prepare). */
export type PrepareFn = (
  path: string,
  opts: { exifTranspose: boolean; name: string; onProgress: ProgressCallback },
) => Promise<PreparedImage>;

class InlinePreparer implements Preparer {
  constructor(
    private readonly prepareFn: PrepareFn,
    private readonly exifTranspose: boolean,
  ) {}

  async prepare(path: string): Promise<Prepared> {
    const notices: string[] = [];
    const onProgress: ProgressCallback = (e) => {
      if (e.status === 'notice') notices.push(e.message);
    };
    const image = await this.prepareFn(path, { exifTranspose: this.exifTranspose, name: path, onProgress });
    return { image, notices };
  }

  async close(): Promise<void> {}
}

/** A worker preparer (the family's processor spec is plain data, run there by its registered def) or inline. */
export function createPreparer(
  mode: PrepareMode,
  processor: ProcessorSpec,
  prepareFn: PrepareFn,
  exifTranspose: boolean,
): Preparer {
  return mode === 'worker'
    ? new WorkerPreparer(processor, exifTranspose)
    : new InlinePreparer(prepareFn, exifTranspose);
}
