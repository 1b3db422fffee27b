// The HTTP API against a fake model: inputs (multipart image/file, raw body, JSON url), parameters, the
// feature cache, health and readiness, server-sent progress, and JSON errors without stack traces.
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ImgTokensModel } from '../../src/api.js';
import { DEFAULT_METHOD } from '../../src/lens-methods.js';
import type { ResultJson } from '../../src/types.js';
import { blob, form, startServer } from './helpers.js';
import { fakeModel, imageTag, pngOf, type FakeModel } from './fake-model.js';

describe('server API', () => {
  let url: string;
  let stop: () => Promise<void>;
  let model: FakeModel;
  let png: Uint8Array;
  before(async () => {
    model = fakeModel({ grid: true });
    png = await pngOf(40, 20, [200, 30, 30]);
    ({ url, stop } = await startServer({ model, allowPrivateUrls: true }));
  });
  after(() => stop());

  test('multipart "image" returns imgtokens.result/1 for that image', async () => {
    const res = await fetch(`${url}api/analyze`, {
      method: 'POST',
      body: form({ image: [blob(png, 'text/plain'), 'red.png'], method: 'dot', k: '3' }),
    });
    assert.equal(res.status, 200);
    const r = (await res.json()) as ResultJson;
    assert.equal(r.schema, 'imgtokens.result/1');
    assert.equal(r.method, 'dot');
    assert.equal(r.k, 3);
    assert.deepEqual(r.image, { width: 40, height: 20, name: 'red.png' });
    assert.equal(r.tokens[0].top.length, 3);
    assert.ok(r.tokens[0].top[0].text.startsWith(imageTag(png)));
  });

  test('field "file", parameters in the query, view filter and exclude list', async () => {
    const res = await fetch(`${url}api/analyze?method=l2&k=2&view=grid&exclude=special,bytes`, {
      method: 'POST',
      body: form({ file: [blob(png), 'x.png'] }),
    });
    assert.equal(res.status, 200);
    const r = (await res.json()) as ResultJson;
    assert.equal(r.method, 'l2');
    assert.deepEqual(r.exclude, ['special', 'bytes']);
    assert.deepEqual(
      r.views.map((v) => v.name),
      ['grid'],
    );
    assert.ok(r.tokens.length === 8 && r.tokens.every((t) => t.view === 'grid'));
  });

  test('a raw image body is accepted; its type comes from its bytes', async () => {
    const res = await fetch(`${url}api/analyze?k=1`, {
      method: 'POST',
      body: blob(png),
      headers: { 'content-type': 'image/jpeg' },
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as ResultJson).image.width, 40);
  });

  test('another method or k on the same image reuses the cached features', async () => {
    const other = await pngOf(24, 24, [1, 2, 3]);
    const before = model.encodeCalls;
    const heads: string[] = [];
    for (const [method, k] of [
      ['cosine', '5'],
      ['omp', '2'],
      ['logit', '7'],
    ]) {
      const res = await fetch(`${url}api/analyze`, {
        method: 'POST',
        body: form({ image: blob(other), method, k }),
      });
      assert.equal(res.status, 200);
      heads.push(res.headers.get('x-imgtokens-cache') ?? '');
      const r = (await res.json()) as ResultJson;
      assert.equal(r.method, method);
      assert.equal(r.k, Number(k));
    }
    assert.equal(model.encodeCalls - before, 1);
    assert.deepEqual(heads, ['miss', 'hit', 'hit']);
  });

  test('JSON {"url"} is fetched (loopback allowed here), with fields beside it', async () => {
    const img = http200(png);
    const { port } = await img.ready;
    try {
      const res = await fetch(`${url}api/analyze`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: `http://127.0.0.1:${port}/pics/red.png`, method: 'cosine', k: 2 }),
      });
      assert.equal(res.status, 200);
      const r = (await res.json()) as ResultJson;
      assert.equal(r.image.name, 'red.png');
      assert.equal(r.k, 2);
    } finally {
      img.server.close();
    }
  });

  test('/api/render draws the PNG and HTML downloads with src/render', async () => {
    const res = await fetch(`${url}api/analyze?k=2`, {
      method: 'POST',
      body: form({ image: [blob(png), 'red.png'] }),
    });
    const result = await res.text();
    const png2 = await fetch(`${url}api/render`, {
      method: 'POST',
      body: form({ image: [blob(png), 'red.png'], result, format: 'png', view: 'base', words: '2' }),
    });
    assert.equal(png2.status, 200);
    assert.equal(png2.headers.get('content-type'), 'image/png');
    // No method was asked for: the result and its file name carry the default method.
    assert.match(
      png2.headers.get('content-disposition') ?? '',
      new RegExp(`filename="red\\.${DEFAULT_METHOD}\\.png"`),
    );
    assert.deepEqual([...new Uint8Array(await png2.arrayBuffer()).subarray(1, 4)], [0x50, 0x4e, 0x47]);
    const html = await fetch(`${url}api/render`, {
      method: 'POST',
      body: form({ image: blob(png), result, format: 'html' }),
    });
    assert.equal(html.status, 200);
    assert.match(await html.text(), /^<!doctype html>/i);
    const bad = await fetch(`${url}api/render`, {
      method: 'POST',
      body: form({ image: blob(png), result: '{"schema":"nope"}' }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /"result" field/);
  });

  test('bad parameters give 400 with the field named and no stack trace', async () => {
    for (const q of ['method=bogus', 'k=0', 'k=51', 'view=side', 'exclude=cats']) {
      const res = await fetch(`${url}api/analyze?${q}`, { method: 'POST', body: form({ image: blob(png) }) });
      assert.equal(res.status, 400, q);
      const body = (await res.json()) as { error: string };
      assert.match(body.error, new RegExp(`"${q.split('=')[0]}"`));
      assert.doesNotMatch(JSON.stringify(body), /at .*\.ts:\d+/);
    }
    const none = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ method: 'dot' }) });
    assert.equal(none.status, 400);
    assert.match(((await none.json()) as { hint: string }).hint, /"image"/);
  });

  test('models, health, stats, examples and 404 are JSON', async () => {
    const models = (await (await fetch(`${url}api/models`)).json()) as {
      models: Array<{ id: string; ready: boolean; views: string[] }>;
      methods: string[];
    };
    assert.equal(models.models[0].id, 'fake/tiny');
    assert.equal(models.models[0].ready, true);
    assert.deepEqual(models.models[0].views, ['base', 'grid']);
    assert.ok(models.methods.includes('omp'));
    assert.equal((await fetch(`${url}healthz`)).status, 200);
    assert.equal((await fetch(`${url}readyz`)).status, 200);
    const stats = (await (await fetch(`${url}api/stats`)).json()) as { cache: { entries: number } };
    assert.ok(stats.cache.entries >= 1);
    const ex = (await (await fetch(`${url}api/examples`)).json()) as { examples: string[] };
    assert.ok(ex.examples.length >= 3);
    assert.equal((await fetch(`${url}${ex.examples[0].slice(1)}`)).status, 200);
    for (const p of [
      'nope',
      'examples/..%2Fpackage.json',
      'js/..%2F..%2Fserver%2Fapp',
      'examples/%2Fetc%2Fpasswd',
    ]) {
      const res = await fetch(`${url}${p}`);
      assert.equal(res.status, 404, p);
      assert.ok(((await res.json()) as { error: string }).error);
    }
  });

  test('the page, its script and its stylesheet are served with a strict CSP', async () => {
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\/js\/app.js">/);
    const js = await fetch(`${url}js/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.match(await js.text(), /from '\.\/view\.js'/);
    assert.equal((await fetch(`${url}style.css`)).status, 200);
    const css = await fetch(`${url}fonts/noto-sans-sc/index.css`);
    assert.equal(css.status, 200);
    const woff = /url\(\.\/(files\/[a-z0-9-]+\.woff2)\)/.exec(await css.text())![1];
    const font = await fetch(`${url}fonts/noto-sans-sc/${woff}`);
    assert.equal(font.headers.get('content-type'), 'font/woff2');
    for (const p of [
      'fonts/noto-sans-sc/package.json',
      'fonts/noto-sans-sc/files/..%2F..%2Fpackage.json',
      'fonts/x/index.css',
    ]) {
      assert.equal((await fetch(`${url}${p}`)).status, 404, p);
    }
  });

  test('a foreign Host header is refused on a loopback server', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(url);
      request(
        { host: u.hostname, port: u.port, path: '/healthz', headers: { host: 'evil.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    assert.equal(status, 421);
  });

  test("server-sent events carry this request's progress", async () => {
    const controller = new AbortController();
    const res = await fetch(`${url}api/events?request=abc_1`, { signal: controller.signal });
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const read = (async () => {
      const dec = new TextDecoder();
      while (!/"task":"lens"[^}]*"status":"done"|"status":"done"[^}]*"task":"lens"/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value);
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    const other = await pngOf(16, 16, [9, 9, 9]);
    const r = await fetch(`${url}api/analyze`, {
      method: 'POST',
      body: form({ image: blob(other), request: 'abc_1' }),
    });
    assert.equal(r.status, 200);
    await read;
    controller.abort();
    assert.match(text, /event: progress/);
    assert.match(text, /"status":"ready"/); // model state replayed
    assert.match(text, /"task":"lens"/);
  });
});

describe('model ids', () => {
  test('a model loaded from a local directory is shown by its name only: /api/models, readyz, results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgtokens-private-'));
    const { url, stop } = await startServer({ model: fakeModel({ id: dir }) });
    try {
      const shown = basename(dir);
      const models = await (await fetch(`${url}api/models`)).text();
      assert.equal((JSON.parse(models) as { models: Array<{ id: string }> }).models[0].id, shown);
      const ready = await (await fetch(`${url}readyz`)).text();
      assert.equal((JSON.parse(ready) as { model: string }).model, shown);
      const png = await pngOf(8, 8, [0, 0, 0]);
      const r = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(png) }) });
      const text = await r.text();
      assert.equal(r.status, 200);
      assert.equal((JSON.parse(text) as ResultJson).model.id, shown);
      for (const body of [models, ready, text])
        assert.ok(!body.includes(tmpdir()), 'the directory stays private');
    } finally {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('model loading', () => {
  test('readyz and analyze answer 503 + Retry-After until the model loads, then 200', async () => {
    let resolve!: (m: ImgTokensModel) => void;
    const pending = new Promise<ImgTokensModel>((r) => (resolve = r));
    const { url, stop } = await startServer({ model: pending, modelId: 'fake/loading' });
    try {
      const ready = await fetch(`${url}readyz`);
      assert.equal(ready.status, 503);
      assert.ok(ready.headers.get('retry-after'));
      assert.equal((await fetch(`${url}healthz`)).status, 200);
      const models = (await (await fetch(`${url}api/models`)).json()) as {
        models: Array<{ id: string; ready: boolean }>;
      };
      assert.deepEqual([models.models[0].id, models.models[0].ready], ['fake/loading', false]);
      const png = await pngOf(8, 8, [0, 0, 0]);
      const busy = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(png) }) });
      assert.equal(busy.status, 503);
      assert.ok(Number(busy.headers.get('retry-after')) >= 1);
      resolve(fakeModel());
      await new Promise((r) => setTimeout(r, 10));
      assert.equal((await fetch(`${url}readyz`)).status, 200);
      const ok = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(png) }) });
      assert.equal(ok.status, 200);
    } finally {
      await stop();
    }
  });

  test('a model that fails to load answers 503 without its server paths; the log has them', async () => {
    const { NotFoundError } = await import('../../src/errors.js');
    const failing = Promise.reject(
      new NotFoundError('no model at /srv/secret/models/nowhere', { hint: 'check --model' }),
    );
    const logged: string[] = [];
    const { url, stop } = await startServer({ model: failing, log: (l) => logged.push(l) });
    try {
      await new Promise((r) => setTimeout(r, 10));
      assert.equal((await fetch(`${url}readyz`)).status, 503);
      const png = await pngOf(8, 8, [0, 0, 0]);
      const res = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(png) }) });
      assert.equal(res.status, 503);
      const text = await res.text();
      assert.deepEqual(JSON.parse(text), {
        error: 'the model failed to load',
        hint: "the server's log says why; fix the model and restart the server",
      });
      assert.doesNotMatch(text, /secret|nowhere/);
      const models = await (await fetch(`${url}api/models`)).text();
      assert.doesNotMatch(models, /secret/);
      assert.ok(logged.some((l) => l.includes('/srv/secret/models/nowhere')));
    } finally {
      await stop();
    }
  });
});

/** A one-route image server on a free loopback port. */
function http200(bytes: Uint8Array) {
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length });
    res.end(bytes);
  });
  const ready = new Promise<AddressInfo>((r) =>
    server.listen(0, '127.0.0.1', () => r(server.address() as AddressInfo)),
  );
  return { server, ready };
}
