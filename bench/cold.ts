/**
 * The bench's cold-start child: a fresh process that loads a model, analyses one image and prints one JSON line
 * with its timings (from process start), peak RSS (getrusage maxRSS) and bytes read (/proc/self/io), before and
 * after loading, and writes the result JSON to <json out> when given (as `imgtokens --json` would). Run by
 * bench/bench.ts; by hand: node --import tsx bench/cold.ts <model dir> <image> <method> [device] [json out]
 * The session cache is the one IMGTOKENS_SESSION_CACHE names (the bench gives each checkpoint its own).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadModel } from '../src/model.js';
import type { Device } from '../src/runtime/session.js';
import type { LensMethod } from '../src/types.js';

/** rchar (bytes through read syscalls, page cache or not) and read_bytes (from the block device). */
export function procIo(): { rchar: number; readBytes: number } | null {
  try {
    const t = readFileSync('/proc/self/io', 'utf8');
    const get = (k: string): number => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(t)?.[1] ?? NaN);
    return { rchar: get('rchar'), readBytes: get('read_bytes') };
  } catch {
    return null; // not Linux
  }
}

/**
 * Peak RSS of this process: VmHWM from /proc/self/status where there is one. Not getrusage's maxRSS, which on
 * Linux carries over through execve the parent's RSS at fork time (the bench's own 3.4 GB showed up as the
 * child's peak); elsewhere maxRSS is all there is.
 */
export function peakRss(): number {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

export interface ColdReport {
  /** ms from process start (performance.timeOrigin) to: the imports done, the model loaded, the first result. */
  importedMs: number;
  loadedMs: number;
  firstResultMs: number;
  /** The first image alone, in this process (encode + lens). */
  firstImageMs: number;
  maxRssBytes: number;
  /** Peak RSS by the end of loading, and RSS then. */
  maxRssLoadedBytes: number;
  rssLoadedBytes: number;
  ioStart: ReturnType<typeof procIo>;
  ioLoaded: ReturnType<typeof procIo>;
  ioEnd: ReturnType<typeof procIo>;
  tokens: number;
}

async function main(): Promise<void> {
  const [dir, image, method, device, jsonOut] = process.argv.slice(2);
  const importedMs = performance.now();
  const ioStart = procIo();
  // As the CLI's analyze loads: the weights mapped unpacked (one image).
  const model = await loadModel(dir, { device: (device ?? 'cpu') as Device, prepackWeights: false });
  const loadedMs = performance.now();
  const ioLoaded = procIo();
  const maxRssLoadedBytes = peakRss();
  const rssLoadedBytes = process.memoryUsage().rss;
  const r = await model.analyze(image, { method: method as LensMethod, k: 5 });
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(r) + '\n');
  const firstResultMs = performance.now();
  const report: ColdReport = {
    importedMs,
    loadedMs,
    firstResultMs,
    firstImageMs: firstResultMs - loadedMs,
    maxRssBytes: peakRss(),
    maxRssLoadedBytes,
    rssLoadedBytes,
    ioStart,
    ioLoaded,
    ioEnd: procIo(),
    tokens: r.tokens.length,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await model.close();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
