/**
 * The batch runner: one loaded model, many images, one JSON line per image (src/batch/output.ts). Image i+1 is
 * decoded and preprocessed (by a Preparer, in a worker thread by default) while image i runs through the vision
 * tower and the lens; results are appended in input order. A failing image becomes an error line and the batch
 * goes on. Progress is one `batch` task on the ProgressEvent stream, with images/min and an ETA.
 */
import type { LoadedFamily } from '../families/types.js';
import type { DeepOptions, DeepResult, ModelInfo } from '../api.js';
import type { PreparedImage } from '../model.js';
import type { ProgressCallback } from '../progress.js';
import type { ExcludeKind, ImageFeatures, LensMethod, LensOptions, ResultJson } from '../types.js';
import { LineWriter, readExisting } from './output.js';
import { createPreparer, type PrepareMode, type Prepared } from './preparer.js';
import { inShard, type Shard } from './shard.js';

/** What the runner needs of a model (src/model.ts Model provides it). */
export interface BatchModel {
  readonly info: ModelInfo;
  readonly family: Pick<LoadedFamily, 'processor'>;
  prepare(
    path: string,
    opts: { exifTranspose?: boolean; name?: string; onProgress?: ProgressCallback },
  ): Promise<PreparedImage>;
  encodePrepared(prepared: PreparedImage, opts?: { onProgress?: ProgressCallback }): Promise<ImageFeatures>;
  lens(features: ImageFeatures, opts: LensOptions): Promise<ResultJson>;
  /** The deep lens (only called with BatchOptions.deep). */
  deep?(features: ImageFeatures, opts?: DeepOptions): Promise<DeepResult>;
}

export interface BatchOptions {
  /** Image paths, already expanded (expandInputs); each is its line's key. */
  images: readonly string[];
  /** The JSON Lines output; appended to, and read first to skip images already done. */
  out: string;
  method: LensMethod;
  k: number;
  exclude?: ExcludeKind[];
  shard?: Shard;
  exifTranspose?: boolean;
  /** Where decode + preprocess run (default 'worker'). */
  prepare?: PrepareMode;
  /** The deep lens for every image (`--layers`): each result gets `deep` and schema imgtokens.result/2. */
  deep?: DeepOptions;
  onProgress?: ProgressCallback;
}

export interface BatchSummary {
  /** Images given, and of those in this shard. */
  given: number;
  inShard: number;
  /** Skipped because the output already had a line for them. */
  skipped: number;
  /** Lines written by this run: results and errors. */
  written: number;
  failed: number;
  /** Bytes of a partial last line cut off the output before appending. */
  truncatedBytes: number;
  seconds: number;
}

type Settled = { ok: true; value: Prepared } | { ok: false; error: unknown };

const settle = (p: Promise<Prepared>): Promise<Settled> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

/** The error's message, naming the image (most messages already start with the path). */
function message(e: unknown, path: string): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.startsWith(path) ? m : `${path}: ${m}`;
}

export async function runBatch(model: BatchModel, o: BatchOptions): Promise<BatchSummary> {
  const t0 = performance.now();
  const mine = o.images.filter((p) => inShard(p, o.shard));
  const existing = await readExisting(o.out, { method: o.method, k: o.k });
  const todo = mine.filter((p) => !existing.done.has(p));
  const summary: BatchSummary = {
    given: o.images.length,
    inShard: mine.length,
    skipped: mine.length - todo.length,
    written: 0,
    failed: 0,
    truncatedBytes: existing.truncatedBytes,
    seconds: 0,
  };
  const emit = o.onProgress;
  const task = 'batch';
  const label = (rate: number) =>
    `images${rate > 0 ? ` ${(rate * 60).toFixed(rate * 60 < 10 ? 1 : 0)}/min` : ''}`;
  if (summary.skipped > 0)
    emit?.({ status: 'notice', message: `${o.out}: ${summary.skipped} images already done, skipping them` });
  emit?.({ status: 'initiate', task, label: label(0), total: todo.length, unit: 'items' });
  const writer = await LineWriter.open(o.out);
  const preparer = createPreparer(
    o.prepare ?? 'worker',
    model.family.processor,
    (path, opts) => model.prepare(path, opts),
    o.exifTranspose ?? false,
  );
  const quiet: ProgressCallback = (e) => {
    if (e.status === 'notice') emit?.(e);
  };
  try {
    const lensOpts: LensOptions = { method: o.method, k: o.k, exclude: o.exclude ?? [] };
    const tLoop = performance.now();
    let next = todo.length > 0 ? settle(preparer.prepare(todo[0])) : null;
    for (let i = 0; i < todo.length; i++) {
      const path = todo[i];
      const cur = await next!;
      next = i + 1 < todo.length ? settle(preparer.prepare(todo[i + 1])) : null; // overlaps with this image
      try {
        if (!cur.ok) throw cur.error;
        for (const n of cur.value.notices) emit?.({ status: 'notice', message: `${path}: ${n}` });
        const features = await model.encodePrepared(cur.value.image, { onProgress: quiet });
        const result = await model.lens(features, lensOpts);
        result.image.name = path;
        if (o.deep) {
          if (!model.deep) throw new Error('this model has no deep lens');
          const d = await model.deep(features, { k: o.k, exclude: o.exclude, onProgress: quiet, ...o.deep });
          result.schema = 'imgtokens.result/2';
          result.deep = d.deep;
        }
        await writer.write({ image: path, result });
      } catch (e) {
        summary.failed++;
        emit?.({ status: 'notice', message: message(e, path) });
        await writer.write({ image: path, error: message(e, path) });
      }
      summary.written++;
      const secs = (performance.now() - tLoop) / 1000;
      const rate = (i + 1) / secs;
      emit?.({
        status: 'progress',
        task,
        label: label(rate),
        done: i + 1,
        total: todo.length,
        unit: 'items',
        rate,
        etaSeconds: (todo.length - i - 1) / rate,
      });
    }
    if (next) await next;
  } finally {
    await preparer.close();
    await writer.close();
  }
  summary.seconds = (performance.now() - t0) / 1000;
  emit?.({
    status: 'done',
    task,
    label: `${summary.written} images (${summary.failed} failed)`,
    seconds: summary.seconds,
  });
  return summary;
}
