/**
 * One progress-event type for downloads and compute stages (after transformers.js's `status` union).
 * The CLI draws bars from it; the server streams it to the page.
 */

export type ProgressEvent =
  /** A unit of work starts; `total` is in `unit`s when known. */
  | { status: 'initiate'; task: string; label: string; total?: number; unit?: 'bytes' | 'items' | 'tokens' }
  /** Work advanced: `done` of `total`, with a rate in units per second when known. */
  | {
      status: 'progress';
      task: string;
      label: string;
      done: number;
      total?: number;
      unit?: 'bytes' | 'items' | 'tokens';
      rate?: number;
      etaSeconds?: number;
    }
  /** A unit of work finished. */
  | { status: 'done'; task: string; label: string; seconds?: number }
  /** A one-line notice for the user (e.g. an EXIF orientation was ignored). */
  | { status: 'notice'; message: string }
  /** The model is loaded and ready. */
  | { status: 'ready'; task: string; label: string };

export type ProgressCallback = (event: ProgressEvent) => void;

/** Runs `fn` between an initiate and a done event for `task`. */
export async function stage<T>(
  onProgress: ProgressCallback | undefined,
  task: string,
  label: string,
  fn: () => Promise<T> | T,
): Promise<T> {
  const t0 = performance.now();
  onProgress?.({ status: 'initiate', task, label });
  const out = await fn();
  onProgress?.({ status: 'done', task, label, seconds: (performance.now() - t0) / 1000 });
  return out;
}
