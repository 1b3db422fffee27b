/**
 * One analysis at a time per model, with a bounded wait queue. When the queue is full, or a job waits or runs
 * past its deadline, the caller gets a BusyError carrying a Retry-After estimate from recent job durations.
 */
import { BusyError } from '../errors.js';

interface Waiter {
  start: () => void;
}

export interface QueueStats {
  running: number;
  waiting: number;
  maxWaiting: number;
  completed: number;
  rejected: number;
}

export class AnalysisQueue {
  private busy = false;
  private readonly waiters: Waiter[] = [];
  /** Exponential moving average of job durations, in ms. */
  private avgMs = 1000;
  completed = 0;
  rejected = 0;

  constructor(readonly maxWaiting: number) {}

  /** Seconds a new client should wait before retrying: the work ahead of it, at least 1. */
  retryAfterSeconds(): number {
    const ahead = this.waiters.length + (this.busy ? 1 : 0);
    return Math.max(1, Math.ceil((ahead * this.avgMs) / 1000));
  }

  stats(): QueueStats {
    return {
      running: this.busy ? 1 : 0,
      waiting: this.waiters.length,
      maxWaiting: this.maxWaiting,
      completed: this.completed,
      rejected: this.rejected,
    };
  }

  /**
   * Runs `job` when it is this caller's turn. `onQueued(position)` reports the place in line (1 = next).
   * `timeoutMs` bounds waiting plus running. At the deadline the caller gets a BusyError and the job's
   * `signal` is aborted: a job checks it between its stages (decode, preprocess, vision tower, lens) and stops
   * at the next one, and the queue moves on when it has.
   */
  run<T>(
    job: (signal: AbortSignal) => Promise<T>,
    opts: { timeoutMs: number; onQueued?: (position: number) => void },
  ): Promise<T> {
    if (this.busy && this.waiters.length >= this.maxWaiting) {
      this.rejected++;
      return Promise.reject(
        new BusyError(
          `the server is busy: ${this.waiters.length} analyses are already waiting`,
          this.retryAfterSeconds(),
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const controller = new AbortController();
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        controller.abort(new Error('the analysis timed out'));
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new BusyError(
            `the analysis did not finish within ${Math.round(opts.timeoutMs / 1000)} s`,
            this.retryAfterSeconds(),
          ),
        );
      }, opts.timeoutMs);
      const waiter: Waiter = {
        start: () => {
          this.busy = true;
          const t0 = performance.now();
          Promise.resolve()
            .then(() => job(controller.signal))
            .then(
              (v) => finish(() => resolve(v), t0),
              (e: unknown) => finish(() => reject(e), t0),
            );
        },
      };
      const finish = (settle: () => void, t0: number): void => {
        this.avgMs = 0.7 * this.avgMs + 0.3 * (performance.now() - t0);
        this.completed++;
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          settle();
        }
        this.busy = false;
        this.next();
      };
      if (this.busy) {
        this.waiters.push(waiter);
        opts.onQueued?.(this.waiters.length);
      } else {
        waiter.start();
      }
    });
  }

  private next(): void {
    const w = this.waiters.shift();
    if (w) w.start();
  }
}
