/**
 * Load test for `imgtokens serve` on loopback: N concurrent clients post images for a fixed time (and at most
 * a fixed number of requests), each checking that it got either a correct result for the image it sent (same
 * size and the same top-1 words as a sequential reference run) or a 503 with Retry-After. Prints requests,
 * successes, 503s, p50/p99 latency and peak RSS.
 *
 *   node --import tsx bench/load.ts [--model test/fixtures/llava/tiny-llava-next] [--clients 8] [--seconds 5]
 *        [--max-requests 5000] [--queue 4] [--fake]
 *
 * runLoad() is also used by test/server/load.test.ts with smaller numbers (and no timing assertions).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ImgTokensModel } from '../src/api.js';
import { createServer } from '../src/server/index.js';
import type { LensMethod, ResultJson } from '../src/types.js';

export interface LoadImage {
  name: string;
  bytes: Uint8Array;
}

export interface LoadOptions {
  /** Base URL of the server, ending in "/". Only loopback URLs are accepted. */
  url: string;
  images: LoadImage[];
  methods: LensMethod[];
  k: number;
  clients: number;
  durationMs: number;
  maxRequests: number;
  /** The result a correct server returns for image i and method m (from a sequential run). */
  reference: (image: number, method: LensMethod) => ResultJson;
}

export interface LoadReport {
  clients: number;
  seconds: number;
  requests: number;
  ok: number;
  busy: number;
  /** 200s whose result did not match the image sent, 503s without Retry-After, other statuses, network errors. */
  wrong: number;
  failures: string[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  peakRssBytes: number;
}

/** Why `got` is not the reference result, or null when it matches. */
export function mismatch(got: ResultJson, want: ResultJson): string | null {
  if (got.schema !== 'imgtokens.result/1') return `schema ${got.schema}`;
  if (got.image.width !== want.image.width || got.image.height !== want.image.height) {
    return `image ${got.image.width}x${got.image.height}, expected ${want.image.width}x${want.image.height}`;
  }
  if (got.method !== want.method || got.k !== want.k) return `method/k ${got.method}/${got.k}`;
  if (got.tokens.length !== want.tokens.length)
    return `${got.tokens.length} tokens, expected ${want.tokens.length}`;
  let same = 0;
  for (let i = 0; i < got.tokens.length; i++)
    if (got.tokens[i].top[0]?.id === want.tokens[i].top[0]?.id) same++;
  // Identical inputs give identical results; allow for float near-ties only.
  if (same < got.tokens.length * 0.98) return `top-1 words agree on ${same}/${got.tokens.length} tokens`;
  return null;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function runLoad(o: LoadOptions, rss: () => Promise<number> | number): Promise<LoadReport> {
  const host = new URL(o.url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host))
    throw new Error(`load tests run on loopback only, not ${host}`);
  const latencies: number[] = [];
  const failures: string[] = [];
  let requests = 0;
  let ok = 0;
  let busy = 0;
  let peakRss = await rss();
  const sampler = setInterval(async () => (peakRss = Math.max(peakRss, await rss())), 50);
  const t0 = performance.now();
  const end = t0 + o.durationMs;
  const client = async (c: number): Promise<void> => {
    for (let j = 0; performance.now() < end && requests < o.maxRequests; j++) {
      requests++;
      const i = (c + j) % o.images.length;
      const method = o.methods[(c * 7 + j) % o.methods.length];
      const form = new FormData();
      form.append('image', new Blob([new Uint8Array(o.images[i].bytes)]), o.images[i].name);
      form.append('method', method);
      form.append('k', String(o.k));
      const t = performance.now();
      try {
        const res = await fetch(`${o.url}api/analyze`, { method: 'POST', body: form });
        const body = (await res.json()) as ResultJson & { error?: string };
        latencies.push(performance.now() - t);
        if (res.status === 200) {
          const why = mismatch(body, o.reference(i, method));
          if (why) failures.push(`client ${c} ${o.images[i].name} ${method}: ${why}`);
          else if (body.image.name !== o.images[i].name)
            failures.push(`client ${c}: name ${body.image.name}`);
          else ok++;
        } else if (res.status === 503 && Number(res.headers.get('retry-after')) >= 1) {
          busy++;
          // A polite client would wait Retry-After seconds; a load test waits a little to keep the pressure on.
          await new Promise((r) => setTimeout(r, 20));
        } else {
          failures.push(`client ${c}: HTTP ${res.status} ${body.error ?? ''}`);
        }
      } catch (e) {
        failures.push(`client ${c}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, c) => client(c)));
  clearInterval(sampler);
  peakRss = Math.max(peakRss, await rss());
  latencies.sort((a, b) => a - b);
  return {
    clients: o.clients,
    seconds: (performance.now() - t0) / 1000,
    requests,
    ok,
    busy,
    wrong: failures.length,
    failures: failures.slice(0, 20),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies[latencies.length - 1] ?? 0,
    peakRssBytes: peakRss,
  };
}

/** Sequential reference results for every image x method, straight from the model. */
export async function references(
  model: ImgTokensModel,
  images: LoadImage[],
  methods: LensMethod[],
  k: number,
): Promise<(image: number, method: LensMethod) => ResultJson> {
  const table = new Map<string, ResultJson>();
  for (let i = 0; i < images.length; i++) {
    const f = await model.encode(images[i].bytes);
    for (const m of methods) table.set(`${i}/${m}`, await model.lens(f, { method: m, k }));
  }
  return (i, m) => table.get(`${i}/${m}`)!;
}

export const FIXTURE_IMAGES = [
  'gradient_37x23.png',
  'checker_64x64.png',
  'shapes_120x80.png',
  'portrait_45x90.jpg',
];

export function fixtureImages(): LoadImage[] {
  return FIXTURE_IMAGES.map((name) => ({
    name,
    bytes: new Uint8Array(readFileSync(new URL(`../test/fixtures/llava/images/${name}`, import.meta.url))),
  }));
}

export function formatReport(r: LoadReport): string {
  const mb = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
  return [
    `clients ${r.clients}, ${r.seconds.toFixed(1)} s`,
    `requests ${r.requests}  ok ${r.ok}  503 ${r.busy}  wrong/failed ${r.wrong}`,
    `latency p50 ${r.p50Ms.toFixed(1)} ms  p99 ${r.p99Ms.toFixed(1)} ms  max ${r.maxMs.toFixed(1)} ms`,
    `throughput ${(r.ok / r.seconds).toFixed(1)} results/s`,
    `peak RSS ${mb(r.peakRssBytes)}`,
    ...r.failures.map((f) => `  ! ${f}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'test/fixtures/llava/tiny-llava-next' },
      clients: { type: 'string', default: '8' },
      seconds: { type: 'string', default: '5' },
      'max-requests': { type: 'string', default: '5000' },
      queue: { type: 'string', default: '4' },
      fake: { type: 'boolean', default: false },
    },
  });
  let model: ImgTokensModel;
  if (values.fake) {
    const { fakeModel } = await import('../test/server/fake-model.js');
    model = fakeModel({ encodeMs: 20, lensMs: 5 });
  } else {
    const { loadModel } = await import('../src/model.js');
    model = await loadModel(values.model!, {});
  }
  const methods: LensMethod[] = ['cosine', 'dot', 'l2', 'logit'];
  const images = fixtureImages();
  const k = 5;
  const reference = await references(model, images, methods, k);
  const server = createServer({ model, maxQueue: Number(values.queue), log: () => {} });
  const { url } = await server.listen(0, '127.0.0.1');
  const report = await runLoad(
    {
      url,
      images,
      methods,
      k,
      clients: Number(values.clients),
      durationMs: Number(values.seconds) * 1000,
      maxRequests: Number(values['max-requests']),
      reference,
    },
    () => process.memoryUsage().rss,
  );
  console.log(
    `model ${model.info.id} (${model.info.modelType}), queue ${values.queue}, ${images.length} images, methods ${methods.join('/')}, k ${k}`,
  );
  console.log(formatReport(report));
  await server.close();
  await model.close();
  process.exitCode = report.wrong === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
