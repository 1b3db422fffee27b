/**
 * Small subcommands: `download` (prefetch what analysis needs), `cache ls|rm`, and `models` (supported families).
 */
import { parseArgs } from 'node:util';
import { FAMILIES } from '../families/index.js';
import { BadInputError } from '../errors.js';
import { planModel } from '../model.js';
import { SessionCache } from '../runtime/session-cache.js';
import { listCache, openSource, prefetch, removeFromCache } from '../source/index.js';
import { progressBar } from './progress-bar.js';

function fmtBytes(n: number): string {
  return n >= 1e9
    ? `${(n / 1e9).toFixed(2)} GB`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(1)} MB`
      : `${(n / 1e3).toFixed(1)} kB`;
}

export async function runDownload(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { revision: { type: 'string' }, quiet: { type: 'boolean', short: 'q' } },
  });
  if (positionals.length !== 1) {
    throw new BadInputError('usage: imgtokens download <org/name[@revision]> [--revision REV]');
  }
  const bar = progressBar({ quiet: values.quiet });
  const source = await openSource(positionals[0], { revision: values.revision, onProgress: bar });
  try {
    const plan = await planModel(source, bar);
    const r = await prefetch(source, plan.tensorNames, bar);
    bar.finish();
    process.stdout.write(
      `${source.description}: ${plan.tensorNames.length} tensors ready (${JSON.stringify(r)})\n`,
    );
  } finally {
    await source.close?.();
  }
  return 0;
}

const CACHE_USAGE = 'use imgtokens cache ls, cache rm <org/name> [...], cache rm --sessions, or cache verify';

/** `cache ls | rm | verify`: the download cache (src/source/cache.ts) and the session cache (src/runtime/session-cache.ts). */
export async function runCache(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const sessions = SessionCache.fromEnv();
  if (sub === 'ls' || sub === undefined) {
    const models = await listCache();
    if (models.length === 0) process.stdout.write('the download cache is empty\n');
    for (const m of models) {
      process.stdout.write(
        `${m.repo}\t${fmtBytes(m.hubBytes + m.tensorBytes)}\t(hub files ${fmtBytes(m.hubBytes)}, tensors ${fmtBytes(m.tensorBytes)})\n`,
      );
    }
    const entries = sessions ? await sessions.list() : [];
    if (!sessions) process.stdout.write('the session cache is off (IMGTOKENS_SESSION_CACHE)\n');
    else if (entries.length === 0) process.stdout.write(`the session cache (${sessions.dir}) is empty\n`);
    else {
      const total = entries.reduce((s, e) => s + e.bytes, 0);
      process.stdout.write(`session cache ${sessions.dir}: ${entries.length} entries, ${fmtBytes(total)}\n`);
      for (const e of entries) {
        process.stdout.write(
          `  ${e.key}\t${fmtBytes(e.bytes)}\t${e.label}\t${e.created}\tonnxruntime ${e.ortVersion}${e.problem ? `\tNOT USED: ${e.problem}` : ''}\n`,
        );
      }
    }
    return 0;
  }
  if (sub === 'rm') {
    if (rest.length === 0) {
      throw new BadInputError('usage: imgtokens cache rm <org/name> [...] | imgtokens cache rm --sessions');
    }
    for (const repo of rest) {
      if (repo === '--sessions') {
        const r = sessions ? await sessions.clear() : { entries: 0, bytes: 0 };
        process.stdout.write(`session cache: removed ${r.entries} entries, ${fmtBytes(r.bytes)}\n`);
        continue;
      }
      const r = await removeFromCache(repo);
      process.stdout.write(`${repo}: ${JSON.stringify(r)}\n`);
    }
    return 0;
  }
  if (sub === 'verify') {
    // Every entry hashed in full (a run checks sizes, mtimes and a sampled hash only); broken ones are removed.
    let bad = 0;
    for (const e of sessions ? await sessions.list() : []) {
      const problem = await sessions!.problem(e.key, undefined, true);
      if (problem) {
        bad++;
        await sessions!.discard(e.key);
      }
      process.stdout.write(`${e.key}\t${e.label}\t${problem ? `removed: ${problem}` : 'ok'}\n`);
    }
    return bad > 0 ? 1 : 0;
  }
  throw new BadInputError(`unknown cache command "${sub}"`, { hint: CACHE_USAGE });
}

export async function runModels(_argv: string[]): Promise<number> {
  for (const f of FAMILIES.values()) {
    const b = f.imageBackends;
    const backends = b
      ? `\n  image backends: ${b.options.map((o) => (o === b.default ? `${o} (default)` : o)).join(', ')}`
      : '';
    process.stdout.write(
      `${f.modelType.padEnd(16)} ${f.label.padEnd(22)} e.g. ${f.exampleHubId}\n  ${f.viewsDescription}${backends}\n`,
    );
  }
  return 0;
}
