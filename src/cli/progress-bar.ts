/**
 * Draws ProgressEvents on stderr: a bar per running task when stderr is a terminal, plain lines otherwise.
 * Notices are always printed; everything is silent with `quiet`.
 */
import type { ProgressCallback, ProgressEvent } from '../progress.js';

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function fmtAmount(n: number, unit?: string): string {
  return unit === 'bytes' ? fmtBytes(n) : String(Math.round(n));
}

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.ceil(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
}

export interface ProgressBarOptions {
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
  /** Force plain-line output even on a TTY (for tests). */
  plain?: boolean;
}

export function progressBar(opts: ProgressBarOptions = {}): ProgressCallback & { finish(): void } {
  const stream = opts.stream ?? process.stderr;
  const tty = !opts.plain && stream.isTTY === true;
  const started = new Map<string, number>();
  let lastDraw = 0;
  let drawn = false;

  const clear = () => {
    if (tty && drawn) {
      stream.write('\r\x1b[2K');
      drawn = false;
    }
  };

  const cb = (e: ProgressEvent) => {
    if (opts.quiet && e.status !== 'notice') return;
    if (e.status === 'notice') {
      clear();
      stream.write(`${e.message}\n`);
      return;
    }
    if (e.status === 'initiate') {
      started.set(e.task, performance.now());
      return;
    }
    if (e.status === 'progress') {
      if (!tty) return;
      const now = performance.now();
      if (now - lastDraw < 80 && e.total !== undefined && e.done < e.total) return;
      lastDraw = now;
      const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 60));
      const frac = e.total ? Math.min(1, e.done / e.total) : 0;
      const bar = e.total ? '█'.repeat(Math.round(frac * width)).padEnd(width, '░') : '';
      const t0 = started.get(e.task) ?? now;
      const secs = (now - t0) / 1000;
      const rate = e.rate ?? (secs > 0 ? e.done / secs : 0);
      const eta = e.etaSeconds ?? (e.total && rate > 0 ? (e.total - e.done) / rate : NaN);
      const amount = e.total
        ? `${fmtAmount(e.done, e.unit)}/${fmtAmount(e.total, e.unit)}`
        : fmtAmount(e.done, e.unit);
      const rateTxt = e.unit === 'bytes' ? `${fmtBytes(rate)}/s` : `${rate.toFixed(1)}/s`;
      stream.write(`\r\x1b[2K${e.label} ${bar} ${amount} ${rateTxt} eta ${fmtEta(eta)}`);
      drawn = true;
      return;
    }
    if (e.status === 'done' || e.status === 'ready') {
      clear();
      const secs = e.status === 'done' ? e.seconds : undefined;
      stream.write(`${e.label}${secs !== undefined ? ` (${secs.toFixed(2)}s)` : ''}\n`);
    }
  };
  return Object.assign(cb, { finish: clear });
}
