/**
 * `imgtokens serve`: parse the flags, start loading the model (in the background, so /healthz answers at once
 * and the page shows loading progress), start the server, print its URL, and close cleanly on SIGINT/SIGTERM.
 * Everything else is in src/server/.
 */
import { parseArgs } from 'node:util';
import type { Device, ImageBackend, ImgTokensModel, LoadOptions, Reference } from '../api.js';
import { BadInputError } from '../errors.js';
import type { ProgressEvent } from '../progress.js';
import { createServer, ProgressHub, type ServerOptions } from '../server/index.js';
import { DEFAULT_MODEL } from './args.js';
import { progressBar } from './progress-bar.js';

export const SERVE_HELP = `imgtokens serve: a local web app for one model

Usage:
  imgtokens serve [--model <id|dir>] [--port 8000] [--host 127.0.0.1] [options]

Options:
  -m, --model <id|dir>       hub id (org/name[@revision]) or local HF directory (default ${DEFAULT_MODEL})
      --revision <rev>       branch, tag or commit of a hub model
      --device <d>           cpu | webgpu | cuda (default cpu)
      --image-backend <b>    pil | torchvision (default torchvision, what transformers 5 picks; pil with --reference v4)
      --reference <v>        v4 | v5: whose transformers behaviour to mirror (default v5)
  -p, --port <n>             port to listen on; 0 picks a free one (default 8000)
      --host <addr>          address to bind (default 127.0.0.1; 0.0.0.0 exposes the server to your network)
      --max-upload <size>    largest image upload, e.g. 20MB, 512KB (default 20MB)
      --max-pixels <n>       largest width x height, e.g. 40M (default 40M)
      --queue <n>            analyses that may wait behind the running one; more get 503 (default 8)
      --timeout <s>          seconds an analysis may wait and run (default 120)
      --cache <size>         memory for cached image features, e.g. 256MB (default 256MB)
      --no-url               refuse {"url": ...} requests
      --allow-private-urls   let {"url"} reach loopback and private addresses
  -q, --quiet                no progress output
  -h, --help               this help
`;

export interface ServeArgs {
  model: string;
  revision?: string;
  device: Device;
  imageBackend?: ImageBackend;
  reference?: Reference;
  port: number;
  host: string;
  quiet: boolean;
  limits: Omit<ServerOptions, 'model' | 'modelId' | 'hub' | 'log'>;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1 << 20,
  g: 1e9,
  gb: 1e9,
  gib: 1 << 30,
};

/** "20MB" -> 20000000, "512KiB" -> 524288, "40M" -> 40000000; throws naming the flag. */
export function parseSize(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined || !(Number(m[1]) > 0)) {
    throw new BadInputError(`${flag} takes a positive size like 20MB, 512KB or 40M; got "${v}"`);
  }
  return Math.round(Number(m[1]) * unit);
}

function int(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BadInputError(`${flag} takes a whole number from ${min} to ${max}; got "${v}"`);
  }
  return n;
}

export function parseServeArgs(argv: string[]): ServeArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        model: { type: 'string', short: 'm', default: DEFAULT_MODEL },
        revision: { type: 'string' },
        device: { type: 'string', default: 'cpu' },
        'image-backend': { type: 'string' },
        reference: { type: 'string' },
        port: { type: 'string', short: 'p', default: '8000' },
        host: { type: 'string', default: '127.0.0.1' },
        'max-upload': { type: 'string', default: '20MB' },
        'max-pixels': { type: 'string', default: '40M' },
        queue: { type: 'string', default: '8' },
        timeout: { type: 'string', default: '120' },
        cache: { type: 'string', default: '256MB' },
        'no-url': { type: 'boolean', default: false },
        'allow-private-urls': { type: 'boolean', default: false },
        quiet: { type: 'boolean', short: 'q', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (cause) {
    throw new BadInputError((cause as Error).message, { hint: 'run `imgtokens serve --help`' });
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.device !== 'cpu' && v.device !== 'webgpu' && v.device !== 'cuda') {
    throw new BadInputError(`--device takes cpu, webgpu or cuda; got "${v.device}"`);
  }
  const backend = v['image-backend'];
  if (backend !== undefined && backend !== 'pil' && backend !== 'torchvision') {
    throw new BadInputError(`--image-backend must be pil or torchvision, got "${backend}"`);
  }
  const reference = v.reference;
  if (reference !== undefined && reference !== 'v4' && reference !== 'v5') {
    throw new BadInputError(`--reference must be v4 or v5, got "${reference}"`);
  }
  return {
    model: v.model,
    revision: v.revision,
    device: v.device,
    ...(backend ? { imageBackend: backend } : {}),
    ...(reference ? { reference } : {}),
    port: int('--port', v.port, 0, 65535),
    host: v.host,
    quiet: v.quiet,
    limits: {
      maxUploadBytes: parseSize('--max-upload', v['max-upload']),
      maxPixels: parseSize('--max-pixels', v['max-pixels']),
      maxQueue: int('--queue', v.queue, 0, 10_000),
      analysisTimeoutMs: int('--timeout', v.timeout, 1, 86_400) * 1000,
      cacheBytes: parseSize('--cache', v.cache),
      allowUrls: !v['no-url'],
      allowPrivateUrls: v['allow-private-urls'],
    },
  };
}

export type ModelLoader = (
  model: string,
  opts: Pick<LoadOptions, 'revision' | 'device' | 'imageBackend' | 'reference' | 'onProgress'>,
) => Promise<ImgTokensModel>;

/**
 * Runs the server until SIGINT/SIGTERM. `load` defaults to loading the model in a worker thread
 * (src/server/worker-model.ts: analyses compute off the event loop, so /healthz answers meanwhile; imported
 * lazily so that `--help` and flag errors stay fast). Resolves to the URL and a stop function once listening.
 */
export async function runServe(
  argv: string[],
  load?: ModelLoader,
): Promise<{ url?: string; stop: () => Promise<void> }> {
  const args = parseServeArgs(argv);
  if (args === 'help') {
    process.stdout.write(SERVE_HELP);
    return { stop: async () => {} };
  }
  const loader = load ?? (await import('../server/worker-model.js')).loadModelInWorker;
  const hub = new ProgressHub();
  const bar = progressBar({ quiet: args.quiet });
  const model = loader(args.model, {
    revision: args.revision,
    device: args.device,
    imageBackend: args.imageBackend,
    reference: args.reference,
    onProgress: (e: ProgressEvent) => {
      bar(e);
      hub.publishModel(e);
    },
  });
  model.catch(() => {}); // reported by the server (log, /readyz, /api/analyze)
  const server = createServer({ ...args.limits, model, modelId: args.model, hub });
  let url: string;
  try {
    ({ url } = await server.listen(args.port, args.host));
  } catch (e) {
    // Nothing will use the model: stop its thread so that the process can exit with the error.
    await model.then((m: ImgTokensModel) => m.close()).catch(() => {});
    throw e;
  }
  process.stderr.write(`imgtokens serving ${args.model} at ${url}\n`);
  if (args.host !== '127.0.0.1' && args.host !== 'localhost' && args.host !== '::1') {
    process.stderr.write(
      `note: bound to ${args.host}; anyone who can reach this address can use the server\n`,
    );
  }
  model.then(
    () => {
      bar.finish();
      process.stderr.write(`model ready: ${url}\n`);
    },
    () => bar.finish(),
  );
  const stop = async (): Promise<void> => {
    await server.close();
    await model.then((m: ImgTokensModel) => m.close()).catch(() => {});
  };
  const onSignal = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    void stop().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    url,
    stop: async () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await stop();
    },
  };
}
