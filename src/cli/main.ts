#!/usr/bin/env node
/**
 * The `imgtokens` command: dispatches to a subcommand or analyses one image. Every failure ends with a
 * one-line message (and a hint) on stderr and the exit code of its error kind (src/errors.ts).
 */
import { readFileSync } from 'node:fs';
import { EXIT_CODES, ImgTokensError, formatError } from '../errors.js';
import { ANALYZE_HELP, parseAnalyzeArgs } from './args.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve': {
      const { runServe } = await import('./serve.js');
      await runServe(rest);
      return -1; // keeps running until a signal
    }
    case 'download':
    case 'cache':
    case 'models': {
      const { runDownload, runCache, runModels } = await import('./commands.js');
      if (cmd === 'download') return runDownload(rest);
      if (cmd === 'cache') return runCache(rest);
      return runModels(rest);
    }
    case 'batch': {
      const { runBatch } = await import('./batch.js');
      return runBatch(rest);
    }
    default: {
      const a = parseAnalyzeArgs(argv);
      if (a === 'help') {
        process.stdout.write(ANALYZE_HELP);
        return 0;
      }
      if (a === 'version') {
        process.stdout.write(`imgtokens ${version()}\n`);
        return 0;
      }
      const { runAnalyze } = await import('./analyze.js');
      await runAnalyze(a);
      return 0;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`\nimgtokens: ${formatError(err)}\n`);
    if (process.env.IMGTOKENS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof ImgTokensError ? EXIT_CODES[err.kind] : 1;
  },
);
