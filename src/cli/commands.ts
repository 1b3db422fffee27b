/**
 * Small subcommands: `download` (prefetch what analysis needs), `cache ls|rm`, and `models` (supported families).
 */
import { parseArgs } from 'node:util';
import { FAMILIES } from '../families/index.js';
import { BadInputError } from '../errors.js';
import { planModel } from '../model.js';
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

export async function runCache(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'ls' || sub === undefined) {
    const models = await listCache();
    if (models.length === 0) {
      process.stdout.write('the cache is empty\n');
      return 0;
    }
    for (const m of models) {
      process.stdout.write(
        `${m.repo}\t${fmtBytes(m.hubBytes + m.tensorBytes)}\t(hub files ${fmtBytes(m.hubBytes)}, tensors ${fmtBytes(m.tensorBytes)})\n`,
      );
    }
    return 0;
  }
  if (sub === 'rm') {
    if (rest.length === 0) throw new BadInputError('usage: imgtokens cache rm <org/name> [...]');
    for (const repo of rest) {
      const r = await removeFromCache(repo);
      process.stdout.write(`${repo}: ${JSON.stringify(r)}\n`);
    }
    return 0;
  }
  throw new BadInputError(`unknown cache command "${sub}"`, {
    hint: 'use imgtokens cache ls or imgtokens cache rm <org/name>',
  });
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
