/**
 * The imgtokens web server: one model (chosen by the server's flags, never by a request), a page, and a small
 * JSON API. Requests are checked (size, sniffed format, header pixel count) before any decoding; analyses run
 * one at a time through a bounded queue; features are cached by image hash so another method or k skips the
 * vision tower; errors are JSON {error, hint} with the status from HTTP_STATUS and never a stack trace.
 *
 *   GET  /                 the page
 *   POST /api/analyze      multipart `image` | `file`, JSON {"url"}, or a raw image body -> ResultJson
 *   POST /api/render       multipart `image` + `result` (+ format=png|html, view, words) -> PNG or HTML file
 *   GET  /api/models       the model (and whether it is loaded), methods, defaults, limits
 *   GET  /api/events       server-sent ProgressEvents (model loading; `?request=<id>` adds that request's)
 *   GET  /api/stats        queue and cache counters
 *   GET  /healthz /readyz  process up / model loaded (503 while loading)
 */
import { createAdaptorServer } from '@hono/node-server';
import { statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, resolve } from 'node:path';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ImgTokensModel } from '../api.js';
import {
  AddressInUseError,
  BadInputError,
  BusyError,
  ForbiddenError,
  HTTP_STATUS,
  ImgTokensError,
  ModelUnavailableError,
  TooLargeError,
  UnsupportedModelError,
} from '../errors.js';
import { stage, type ProgressEvent } from '../progress.js';
import { LENS_METHODS, type ResultJson } from '../types.js';
import { decodeImage } from '../image/decode.js';
import { parseResult, renderHtml, renderPng } from '../render/index.js';
import { parseViewChoice } from '../render/text.js';
import { INDEX_HTML, STYLE_CSS } from '../web/page.js';
import { FeatureCache, imageKey } from './cache.js';
import { ProgressHub } from './events.js';
import { clip, fetchImageUrl, UrlFetchError } from './fetch-url.js';
import { checkJsonText, MAX_FORM_PARTS, parseForm } from './form.js';
import { checkImage, formatBytes } from './limits.js';
import { DEFAULT_K, DEFAULT_METHOD, parseAnalyzeParams, type AnalyzeParams } from './params.js';
import { AnalysisQueue } from './queue.js';
import { loadStaticFiles } from './static.js';

export interface ServerOptions {
  /**
   * The model to serve. `imgtokens serve` passes one from loadModelInWorker (src/server/worker-model.ts), so the
   * model math runs off the event loop and /healthz, /readyz, /api/events answer during an analysis; a model from
   * loadModel (in-process, as the tests' fakes) blocks them while it computes.
   */
  model: ImgTokensModel | Promise<ImgTokensModel>;
  /** Shown by /api/models while the model loads (e.g. the --model flag). */
  modelId?: string;
  /** Feed model-loading progress here (hub.publishModel) to show it on the page. */
  hub?: ProgressHub;
  /** Upload (and fetched URL) limit in bytes. Default 20 MiB. */
  maxUploadBytes?: number;
  /** Largest width x height accepted, read from the header. Default 40 megapixels. */
  maxPixels?: number;
  /** Analyses that may wait behind the running one before new ones get 503. Default 8. */
  maxQueue?: number;
  /** Waiting plus running time allowed per analysis. Default 120 s. */
  analysisTimeoutMs?: number;
  /** Time a client has to send its request headers (slowloris guard). Default 10 s. */
  headersTimeoutMs?: number;
  /** Time a client has to send its whole request, body included. Default 60 s. */
  requestTimeoutMs?: number;
  /** Feature cache budget in bytes. Default 256 MiB. */
  cacheBytes?: number;
  /** Largest k a request may ask for. Default 50. */
  maxK?: number;
  /** Accept {"url": ...} requests. Default true. */
  allowUrls?: boolean;
  /** Let {"url"} reach loopback/private addresses. Default false. */
  allowPrivateUrls?: boolean;
  urlTimeoutMs?: number;
  /** Where server-side failures are logged (never sent to clients). Default console.error. */
  log?: (line: string) => void;
}

export interface ImgTokensServer {
  /** The Hono app; `app.request()` runs requests without a socket. */
  readonly app: Hono;
  readonly hub: ProgressHub;
  /** Starts listening; port 0 picks a free port. Resolves to the page's URL. */
  listen(port?: number, host?: string): Promise<{ url: string; port: number; server: Server }>;
  close(): Promise<void>;
}

type ModelState =
  { state: 'loading' } | { state: 'ready'; model: ImgTokensModel } | { state: 'failed'; error: unknown };

const MAX_SSE_CLIENTS = 64;
/** Room for a result JSON beside the image in /api/render (2k tokens x 10 words is about 1 MB). */
export const MAX_RESULT_BYTES = 8 << 20;
/** Limits on the result JSON /api/render accepts: a real result nests 5 deep and its words are short. */
export const RESULT_LIMITS = { maxChars: MAX_RESULT_BYTES, maxDepth: 16, maxStringChars: 1024 };
/** Most tokens a result to render may hold (LLaVA-NeXT at its largest grid has about 2.9k). */
export const MAX_RENDER_TOKENS = 50_000;

/** True for a loopback bind address: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackBind(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host name of a Host header, lower-cased, without port or brackets ('' when malformed). */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  const m = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h) ?? /^([^:[\]]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1].replace(/\.$/, '') : '';
}

/**
 * The Host names a server bound to `bound` answers to. For a loopback bind: the bound address itself and
 * `localhost` (plus the two standard loopbacks when bound as `localhost`), so a DNS-rebinding page
 * (Host: evil.example resolving to 127.0.0.1) is refused. null (any Host) for other binds.
 */
export function allowedHosts(bound: string): Set<string> | null {
  if (!isLoopbackBind(bound)) return null;
  const b = bound.toLowerCase().replace(/^\[|\]$/g, '');
  const out = new Set([b, 'localhost']);
  if (b === 'localhost') for (const x of ['127.0.0.1', '::1']) out.add(x);
  return out;
}

export function createServer(opts: ServerOptions): ImgTokensServer {
  const limits = {
    maxUploadBytes: opts.maxUploadBytes ?? 20 << 20,
    maxPixels: opts.maxPixels ?? 40_000_000,
  };
  const maxK = opts.maxK ?? 50;
  const log = opts.log ?? ((line: string) => console.error(line));
  const hub = opts.hub ?? new ProgressHub();
  const queue = new AnalysisQueue(opts.maxQueue ?? 8);
  const cache = new FeatureCache(opts.cacheBytes ?? 256 << 20);
  const files = loadStaticFiles();
  let boundHost = '127.0.0.1';
  const servers: Server[] = [];
  let model: ModelState = { state: 'loading' };
  Promise.resolve(opts.model).then(
    (m) => {
      model = { state: 'ready', model: m };
      hub.publishModel({ status: 'ready', task: 'model', label: publicModelId(m.info.id) });
    },
    (error: unknown) => {
      model = { state: 'failed', error };
      log(`model failed to load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      // Clients see only that it failed: the message may name server paths; the log has it.
      hub.publishModel({ status: 'notice', message: 'the model failed to load; see the server log' });
    },
  );
  const readyModel = (): ImgTokensModel => {
    if (model.state === 'ready') return model.model;
    if (model.state === 'failed') {
      throw new ModelUnavailableError('the model failed to load', {
        hint: "the server's log says why; fix the model and restart the server",
      });
    }
    throw new BusyError('the model is still loading', 5);
  };

  const app = new Hono();

  app.use('*', async (c, next) => {
    // A server bound to loopback answers only to its own names (no DNS rebinding from a web page).
    const rawHost = c.req.header('host') ?? '';
    const host = hostName(rawHost);
    const allowed = allowedHosts(boundHost);
    if (allowed && !allowed.has(host)) {
      return c.json(
        {
          error: `unexpected Host header "${clip(rawHost, 100)}"`,
          hint: `this server answers to ${[...allowed].join(', ')}`,
        },
        421,
      );
    }
    // Cross-origin writes are refused (a page elsewhere cannot POST a form or fetch here): browsers send
    // Origin on every POST and Sec-Fetch-Site on modern ones; clients such as curl send neither.
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const origin = c.req.header('origin');
      const site = c.req.header('sec-fetch-site');
      const sameOrigin =
        origin === undefined || origin === new URL(c.req.url).origin || sameHost(origin, rawHost);
      if (!sameOrigin || (site !== undefined && site !== 'same-origin' && site !== 'none')) {
        throw new ForbiddenError(
          `cross-origin ${c.req.method} refused (Origin ${clip(origin ?? site ?? '', 100)})`,
          {
            hint: 'use the page this server serves, or call the API without a browser',
          },
        );
      }
    }
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
  });

  app.onError((err, c) => errorResponse(c, err, log));
  app.notFound((c) => c.json({ error: `no such path: ${c.req.method} ${clip(c.req.path, 200)}` }, 404));

  // --- page -----------------------------------------------------------------------------------------------
  app.get('/', (c) => {
    c.header(
      'Content-Security-Policy',
      "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; " +
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    );
    return c.html(INDEX_HTML);
  });
  app.get('/style.css', (c) => c.body(STYLE_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' }));
  app.get('/js/:file', async (c) => {
    const js = await files.script(c.req.param('file'));
    if (js === null) return c.notFound();
    return c.body(js, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' });
  });
  app.get('/vocab/:file', async (c) => {
    const js = await files.sharedScript(c.req.param('file'));
    if (js === null) return c.notFound();
    return c.body(js, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' });
  });
  app.get('/examples/:file', async (c) => {
    const img = await files.example(c.req.param('file'));
    if (img === null) return c.notFound();
    return c.body(img.bytes, 200, { 'Content-Type': img.type, 'Cache-Control': 'max-age=3600' });
  });
  app.get('/fonts/:pkg/*', async (c) => {
    const pkg = c.req.param('pkg');
    const file = c.req.path.slice(`/fonts/${pkg}/`.length);
    const font = await files.font(pkg, file);
    if (font === null) return c.notFound();
    return c.body(font.bytes, 200, { 'Content-Type': font.type, 'Cache-Control': 'max-age=86400' });
  });
  app.get('/api/examples', (c) => c.json({ examples: files.examples.map((n) => `/examples/${n}`) }));

  // --- health ---------------------------------------------------------------------------------------------
  app.get('/healthz', (c) => c.json({ ok: true, uptimeSeconds: Math.round(process.uptime()) }));
  app.get('/readyz', (c) => {
    if (model.state === 'ready') return c.json({ ready: true, model: publicModelId(model.model.info.id) });
    c.header('Retry-After', '5');
    const error = model.state === 'loading' ? 'the model is still loading' : 'the model failed to load';
    return c.json(
      { ready: false, error, hint: model.state === 'failed' ? 'see the server log' : undefined },
      503,
    );
  });

  app.get('/api/models', (c) => {
    const info = model.state === 'ready' ? model.model.info : undefined;
    return c.json({
      models: [
        {
          ...info,
          id: publicModelId(info?.id ?? opts.modelId ?? 'model'),
          ready: model.state === 'ready',
          state: model.state,
        },
      ],
      methods: LENS_METHODS,
      defaults: { method: DEFAULT_METHOD, k: DEFAULT_K },
      limits: { ...limits, maxK, maxQueue: queue.maxWaiting, allowUrls: opts.allowUrls ?? true },
    });
  });
  app.get('/api/stats', (c) =>
    c.json({
      queue: queue.stats(),
      cache: {
        entries: cache.size,
        bytes: cache.bytes,
        maxBytes: cache.maxBytes,
        hits: cache.hits,
        misses: cache.misses,
      },
      sseClients: hub.subscribers,
      rssBytes: process.memoryUsage().rss,
    }),
  );

  app.get('/api/events', (c) => {
    const requestId = c.req.query('request');
    if (requestId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(requestId)) {
      throw new BadInputError('"request" must be 1-64 letters, digits, "-" or "_"');
    }
    if (hub.subscribers >= MAX_SSE_CLIENTS) throw new BusyError('too many progress streams are open', 5);
    return streamSSE(c, async (stream) => {
      let chain = Promise.resolve();
      const unsubscribe = hub.subscribe((event) => {
        chain = chain
          .then(() => stream.writeSSE({ event: 'progress', data: JSON.stringify(event) }))
          .catch(() => {});
      }, requestId);
      const aborted = new Promise<void>((resolve) => stream.onAbort(resolve));
      try {
        while (!stream.aborted && !stream.closed) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([aborted, new Promise((r) => (timer = setTimeout(r, 15_000)))]);
          clearTimeout(timer);
          if (stream.aborted) break;
          chain = chain.then(() => stream.write(': ping\n\n').then(() => {})).catch(() => {});
        }
      } finally {
        unsubscribe();
      }
    });
  });

  // --- analysis -------------------------------------------------------------------------------------------
  app.post(
    '/api/analyze',
    bodyLimit({
      // Multipart framing and form fields ride on top of the image itself.
      maxSize: limits.maxUploadBytes + 64 * 1024,
      onError: () => {
        throw new TooLargeError(
          `the request is over this server's upload limit of ${formatBytes(limits.maxUploadBytes)}`,
          {
            hint: 'shrink or re-encode the image, or start the server with a larger --max-upload',
          },
        );
      },
    }),
    async (c) => {
      const m = readyModel();
      const { bytes, name, fields, fromUrl } = await readImage(c, opts, limits.maxUploadBytes, log);
      // Form fields win over the query string; either may give a single-valued parameter once.
      const params = parseAnalyzeParams((k) => fields.get(k) ?? c.req.queries(k) ?? [], maxK);
      if (params.view !== 'all' && !m.info.views.includes(params.view)) {
        throw new BadInputError(
          `"view" is ${params.view} but ${publicModelId(m.info.id)} produces only ${m.info.views.join(', ')} tokens`,
        );
      }
      if (fromUrl) {
        // What came back is judged like any other failed fetch (one message: no probing what answers where).
        await checkImage(bytes, limits).catch((e: unknown) => {
          const err = new UrlFetchError(`the body is not an accepted image: ${(e as Error).message}`, e);
          log(`url fetch failed: ${err.reason}`);
          throw err;
        });
      } else await checkImage(bytes, limits);
      const rid = params.requestId;
      const onProgress = rid === undefined ? undefined : (e: ProgressEvent) => hub.publishRequest(rid, e);
      let cached = false;
      const result = await queue.run(
        async (signal) => {
          const key = imageKey(bytes);
          let features = cache.get(key);
          cached = features !== undefined;
          if (!features) {
            features = await m.encode(bytes, { name, onProgress, signal });
            cache.set(key, features);
          } else {
            onProgress?.({ status: 'notice', message: 'image features cached: skipping the vision tower' });
          }
          const f = features;
          signal.throwIfAborted(); // timed out during the vision tower: skip the lens
          const r = await stage(onProgress, 'lens', `${params.method} top-${params.k}`, () =>
            m.lens(f, { method: params.method, k: params.k, exclude: params.exclude }),
          );
          if (params.layers !== undefined) {
            if (!m.deep) throw new UnsupportedModelError('this server model has no deep lens');
            const d = await m.deep(f, {
              layers: params.layers,
              ...(params.prompt !== undefined ? { prompt: params.prompt } : {}),
              k: params.k,
              exclude: params.exclude,
              onProgress,
              signal,
            });
            r.schema = 'imgtokens.result/2';
            r.deep = d.deep;
          }
          return r;
        },
        {
          timeoutMs: opts.analysisTimeoutMs ?? 120_000,
          onQueued: (position) =>
            onProgress?.({ status: 'notice', message: `queued: ${position} ahead of you` }),
        },
      );
      c.header('X-Imgtokens-Cache', cached ? 'hit' : 'miss');
      return c.json(shapeResult(result, params, name));
    },
  );

  // --- downloads rendered by src/render (the page falls back to drawing them itself) ------------------------
  app.post(
    '/api/render',
    bodyLimit({
      maxSize: limits.maxUploadBytes + MAX_RESULT_BYTES,
      onError: () => {
        throw new TooLargeError(
          `the request is over this server's limit of ${formatBytes(limits.maxUploadBytes)} + the result`,
        );
      },
    }),
    async (c) => {
      const { bytes, name, fields } = await readImage(
        c,
        { ...opts, allowUrls: false },
        limits.maxUploadBytes,
        log,
      );
      const field = (k: string): string | undefined => fields.get(k)?.[0] ?? c.req.query(k);
      const text = field('result');
      if (text === undefined)
        throw new BadInputError('no "result" field', { hint: 'send the analysis JSON as field "result"' });
      const format = field('format') ?? 'png';
      if (format !== 'png' && format !== 'html')
        throw new BadInputError(`"format" must be png or html; got "${format.slice(0, 20)}"`);
      const view = parseViewChoice(field('view') ?? 'base', '"view"');
      const words = Number(field('words') ?? '1');
      if (!Number.isInteger(words) || words < 1 || words > 10)
        throw new BadInputError('"words" must be 1 to 10');
      await checkImage(bytes, limits);
      checkJsonText(text, 'the "result" field', RESULT_LIMITS);
      const tokenCount = (text.match(/"index"/g) ?? []).length;
      if (tokenCount > MAX_RENDER_TOKENS) {
        throw new TooLargeError(
          `the "result" field holds ${tokenCount} tokens, over the limit of ${MAX_RENDER_TOKENS}`,
        );
      }
      const result = parseResult(text, 'the "result" field');
      const { image } = await decodeImage(bytes, { maxPixels: limits.maxPixels, name: name ?? 'image' });
      const out = await queue.run(
        async () =>
          format === 'png'
            ? new Uint8Array(await renderPng(result, image, { view, words, outlines: true }))
            : new TextEncoder().encode(await renderHtml(result, image, { view })),
        { timeoutMs: opts.analysisTimeoutMs ?? 120_000 },
      );
      const base = (name ?? 'image').replace(/\.\w+$/, '').replace(/[^\w.-]+/g, '_');
      return c.body(out, 200, {
        'Content-Type': format === 'png' ? 'image/png' : 'text/html; charset=utf-8',
        'Content-Disposition': `attachment; filename="${base}.${result.method}.${format}"`,
      });
    },
  );

  return {
    app,
    hub,
    async listen(port = 8000, host = '127.0.0.1') {
      boundHost = host;
      const server = createAdaptorServer({
        fetch: app.fetch,
        hostname: host,
        serverOptions: {
          headersTimeout: opts.headersTimeoutMs ?? 10_000,
          requestTimeout: opts.requestTimeoutMs ?? 60_000,
          keepAliveTimeout: 5_000,
          // How often Node checks the two timeouts above (its default, 30 s, would let slow clients linger).
          connectionsCheckingInterval: Math.min(1000, Math.max(50, (opts.headersTimeoutMs ?? 10_000) / 4)),
        },
      }) as Server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) =>
          reject(
            e.code === 'EADDRINUSE'
              ? new AddressInUseError(`port ${port} on ${host} is already in use`, {
                  hint: 'stop the program using it, or pick another with --port (0 picks a free one)',
                  cause: e,
                })
              : e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES'
                ? new BadInputError(`cannot listen on ${host}:${port} (${e.code})`, {
                    hint:
                      e.code === 'EACCES'
                        ? 'ports below 1024 need privileges; pick another'
                        : 'give an address of this machine with --host',
                    cause: e,
                  })
                : e,
          ),
        );
        server.listen(port, host, () => resolve());
      });
      servers.push(server);
      const addr = server.address() as AddressInfo;
      const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
      return { url: `http://${shown}:${addr.port}/`, port: addr.port, server };
    },
    async close() {
      await Promise.all(
        servers.splice(0).map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}

/** The image bytes, a display name and the form fields, from multipart, JSON {"url"} or a raw body. */
async function readImage(
  c: Context,
  opts: ServerOptions,
  maxBytes: number,
  log: (line: string) => void,
): Promise<{ bytes: Uint8Array; name?: string; fields: Map<string, string[]>; fromUrl: boolean }> {
  const type = c.req.header('content-type') ?? '';
  const lower = type.toLowerCase();
  if (lower.startsWith('multipart/form-data') || lower.startsWith('application/x-www-form-urlencoded')) {
    const body = new Uint8Array(await c.req.arrayBuffer());
    const { fields, file } = await parseForm(body, type, new Map([['result', MAX_RESULT_BYTES]]));
    if (!file) {
      const url = fields.get('url')?.[0];
      if (url) {
        return { bytes: await fetchUrl(url, opts, maxBytes, log), name: urlName(url), fields, fromUrl: true };
      }
      throw new BadInputError('no image in the request', {
        hint: 'send the image as multipart field "image" (or "file"), or JSON {"url": "..."}',
      });
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    return { bytes, name: cleanName(file.name), fields, fromUrl: false };
  }
  if (lower.startsWith('application/json')) {
    const text = await c.req.text();
    checkJsonText(text, 'the JSON body', { maxChars: 1 << 20, maxDepth: 4, maxStringChars: 16384 });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw new BadInputError('the JSON body could not be parsed', { cause });
    }
    if (typeof body !== 'object' || body === null || typeof (body as { url?: unknown }).url !== 'string') {
      throw new BadInputError('the JSON body must be {"url": "https://..."}', {
        hint: 'or upload the image as multipart field "image"',
      });
    }
    const entries = Object.entries(body);
    if (entries.length > MAX_FORM_PARTS)
      throw new BadInputError(`the JSON body has more than ${MAX_FORM_PARTS} keys`);
    const fields = new Map<string, string[]>();
    for (const [k, v] of entries) {
      if (k !== 'url' && (typeof v === 'string' || typeof v === 'number')) fields.set(k, [String(v)]);
      if (k === 'exclude' && Array.isArray(v)) fields.set(k, v.slice(0, MAX_FORM_PARTS).map(String));
    }
    const url = (body as { url: string }).url;
    return { bytes: await fetchUrl(url, opts, maxBytes, log), name: urlName(url), fields, fromUrl: true };
  }
  // Anything else is taken as the raw image (curl --data-binary @photo.jpg); its content is sniffed later.
  return { bytes: new Uint8Array(await c.req.arrayBuffer()), fields: new Map(), fromUrl: false };
}

async function fetchUrl(
  url: string,
  opts: ServerOptions,
  maxBytes: number,
  log: (line: string) => void,
): Promise<Uint8Array> {
  if (opts.allowUrls === false) {
    throw new BadInputError('this server does not fetch image URLs', {
      hint: 'upload the image file instead',
    });
  }
  try {
    return await fetchImageUrl(url, {
      maxBytes,
      timeoutMs: opts.urlTimeoutMs ?? 15_000,
      allowPrivate: opts.allowPrivateUrls ?? false,
    });
  } catch (e) {
    if (e instanceof UrlFetchError) log(`url fetch failed: ${e.reason}`);
    throw e;
  }
}

/** True when an Origin header names the same host (and port) as the Host header. */
function sameHost(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

function cleanName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const parts = name.split(/[\\/]/);
  // eslint-disable-next-line no-control-regex
  const base = parts[parts.length - 1].replace(/[\u0000-\u001f\u007f]/g, '');
  return base.slice(0, 200) || undefined;
}

function urlName(url: string): string | undefined {
  try {
    return cleanName(decodeURIComponent(new URL(url).pathname));
  } catch {
    return undefined;
  }
}

/**
 * What the server shows of a model's id: a hub id as is; a local directory by its last component only, so that
 * /api/models, results and error messages do not tell clients where the server keeps its files.
 */
export function publicModelId(id: string): string {
  let shown = publicIds.get(id);
  if (shown === undefined) {
    let local = false;
    try {
      local = statSync(id).isDirectory();
    } catch {
      // not a path on this machine: a hub id
    }
    shown = local ? basename(resolve(id)) : id;
    publicIds.set(id, shown);
  }
  return shown;
}
const publicIds = new Map<string, string>();

/**
 * Keeps only the requested view, records this request's image name (features may come from the cache) and shows
 * the model by its public id.
 */
function shapeResult(result: ResultJson, params: AnalyzeParams, name: string | undefined): ResultJson {
  const image = { ...result.image, name };
  const model = { ...result.model, id: publicModelId(result.model.id) };
  if (params.view === 'all') return { ...result, model, image };
  const keep = result.tokens.map((t) => t.view === params.view);
  const deep = result.deep && {
    ...result.deep,
    prompt: {
      ...result.deep.prompt,
      imagePositions: result.deep.prompt.imagePositions.filter((_, i) => keep[i]),
    },
    layers: result.deep.layers.map((l) => ({
      ...l,
      logit: l.logit.filter((_, i) => keep[i]),
      embed: l.embed.filter((_, i) => keep[i]),
    })),
  };
  return {
    ...result,
    model,
    image,
    views: result.views.filter((v) => v.name === params.view),
    tokens: result.tokens.filter((t) => t.view === params.view),
    ...(deep ? { deep } : {}),
  };
}

function errorResponse(c: Context, err: unknown, log: (line: string) => void): Response {
  if (err instanceof ImgTokensError) {
    const status = HTTP_STATUS[err.kind];
    if (err instanceof BusyError) c.header('Retry-After', String(err.retryAfterSeconds));
    if (status >= 500 && !(err instanceof BusyError) && !(err instanceof UrlFetchError))
      log(clip(`${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`, 4000));
    return c.json({ error: clip(err.message, 1000), hint: err.hint }, status as ContentfulStatusCode);
  }
  log(
    clip(
      `${c.req.method} ${c.req.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      4000,
    ),
  );
  return c.json({ error: 'internal error', hint: 'the server log has the details' }, 500);
}
