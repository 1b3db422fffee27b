// The red-team pass of issue 14 against a running server: each attack with its exact status and message,
// nothing analysed, and /healthz still answering within 1 s while the attack is in flight.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { URL_FETCH_FAILED } from '../../src/server/fetch-url.js';
import { MAX_FORM_PARTS } from '../../src/server/form.js';
import { createServer } from '../../src/server/index.js';
import { blob, bombPng, form, startServer } from './helpers.js';
import { fakeModel, pngOf, type FakeModel } from './fake-model.js';

type ErrorBody = { error: string; hint?: string };

/** /healthz answers 200 within 1 s (an attack must not stall the event loop). */
async function healthyWithin1s(url: string): Promise<void> {
  const res = await fetch(`${url}healthz`, { signal: AbortSignal.timeout(1000) });

  assert.equal(res.status, 200);
}

/** Runs `attack` and, while it is in flight, checks /healthz three times. */
async function duringAttack<T>(url: string, attack: () => Promise<T>): Promise<T> {
  const inFlight = attack();
  for (let i = 0; i < 3; i++) await healthyWithin1s(url);
  return inFlight;
}

describe('hostile requests', () => {
  let url: string;
  let port: number;
  let stop: () => Promise<void>;
  let model: FakeModel;
  let png: Uint8Array;
  let logged: string[];
  let target: Server;
  let targetPort: number;
  let targetHits = 0;
  before(async () => {
    model = fakeModel();
    png = await pngOf(16, 16, [10, 20, 30]);
    logged = [];
    ({ url, stop } = await startServer({ model, log: (l) => logged.push(l) }));
    port = Number(new URL(url).port);
    target = createHttpServer((req, res) => {
      targetHits++;
      if (req.url === '/x.png') return res.end(png);
      if (req.url === '/page.html') return res.end('<html>not an image</html>');
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    targetPort = (target.address() as AddressInfo).port;
  });
  after(async () => {
    target.closeAllConnections();
    target.close();
    await stop();
  });

  const analyzeUrl = (u: string, headers: Record<string, string> = {}) =>
    fetch(`${url}api/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ url: u }),
    });

  test('(1) {"url"} with loopback in any spelling: 502, one generic message, nothing fetched', async () => {
    const before = targetHits;
    const bodies = new Set<string>();
    for (const h of [
      '[::ffff:7f00:1]',
      '[0:0:0:0:0:ffff:7f00:1]',
      '[::ffff:127.0.0.1]',
      '[::127.0.0.1]',
      '[64:ff9b::7f00:1]',
      '[2002:7f00:1::]',
      '0x7f.1',
      '2130706433',
      '0177.0.0.1',
      'localhost',
      '[::1]',
    ]) {
      const res = await analyzeUrl(`http://${h}:${targetPort}/x.png`);
      assert.equal(res.status, 502, h);
      bodies.add(await res.text());
    }
    assert.deepEqual(
      [...bodies].map((b) => (JSON.parse(b) as ErrorBody).error),
      [URL_FETCH_FAILED],
    );
    assert.equal(targetHits, before);
    assert.equal(model.encodeCalls, 0);
    assert.ok(logged.some((l) => /url fetch failed: .*non-public/.test(l)));
  });

  test('(1) with private URLs allowed, 404 / refused / not an image / huge host all give the same body', async () => {
    const s = await startServer({ model: fakeModel(), allowPrivateUrls: true, log: () => {} });
    try {
      const base = `http://127.0.0.1:${targetPort}`;
      const bodies = new Set<string>();
      for (const u of [`${base}/missing.png`, 'http://127.0.0.1:1/x.png', `${base}/page.html`]) {
        const res = await fetch(`${s.url}api/analyze`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ url: u }),
        });
        assert.equal(res.status, 502, u);
        bodies.add(await res.text());
      }
      assert.equal(bodies.size, 1);
      const ok = await fetch(`${s.url}api/analyze`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: `${base}/x.png` }),
      });
      assert.equal(ok.status, 200);
    } finally {
      await s.stop();
    }
  });

  test('(5) a 1 MB host name: a short 413 or 400, a short log line', async () => {
    logged.length = 0;
    const res = await analyzeUrl(`http://${'a'.repeat(512 << 10)}.example/x.png`);
    assert.equal(res.status, 413);
    const text = await res.text();
    assert.ok(text.length < 500, `body is ${text.length} bytes`);
    assert.equal(
      (JSON.parse(text) as ErrorBody).error,
      'the JSON body is refused: a string is longer than 16384 characters',
    );
    const mid = await fetch(`${url}api/analyze`, {
      method: 'POST',
      body: form({ url: `http://${'a'.repeat(9000)}.example/x.png` }),
    });
    assert.equal(mid.status, 400);
    assert.match(
      ((await mid.json()) as ErrorBody).error,
      /form field "url" is \d+ characters, over the limit of 4096/,
    );
    const long = await analyzeUrl(`http://${'a'.repeat(5000)}.example/x.png`);
    assert.equal(long.status, 502);
    assert.ok((await long.text()).length < 500);
    assert.ok(
      logged.every((l) => l.length < 5000),
      'log lines are clipped',
    );
  });

  test('(1) a cross-origin POST is 403 before anything is read; same-origin and no-Origin pass', async () => {
    const before = model.encodeCalls;
    const attacks: Record<string, string>[] = [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: `http://127.0.0.1:${port + 1}` },
      { 'sec-fetch-site': 'cross-site' },
      { origin: url.slice(0, -1), 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of attacks) {
      const res = await fetch(`${url}api/analyze`, {
        method: 'POST',
        headers,
        body: form({ image: blob(png) }),
      });
      assert.equal(res.status, 403, JSON.stringify(headers));
      const body = (await res.json()) as ErrorBody;
      assert.match(body.error, /^cross-origin POST refused/);
    }
    assert.equal(model.encodeCalls, before);
    const same = await fetch(`${url}api/analyze`, {
      method: 'POST',
      headers: { origin: url.slice(0, -1), 'sec-fetch-site': 'same-origin' },
      body: form({ image: blob(png) }),
    });
    assert.equal(same.status, 200);
    assert.equal(
      (await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(png) }) })).status,
      200,
    );
  });

  test('(2) 100k repeated form fields are refused at once; /healthz answers meanwhile', async () => {
    const body = `${'k=5&'.repeat(100_000)}k=5`;
    const res = await duringAttack(url, () =>
      fetch(`${url}api/analyze`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      }),
    );
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as ErrorBody).error, `the form has more than ${MAX_FORM_PARTS} fields`);
    // 20k multipart parts, framed here as bytes (a FormData would be encoded on this process's event loop).
    const part = '--B\r\nContent-Disposition: form-data; name="exclude"\r\n\r\nspecial\r\n';
    const multipart = Buffer.from(`${part.repeat(20_000)}--B--\r\n`);
    const res2 = await duringAttack(url, () =>
      fetch(`${url}api/analyze`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=B' },
        body: multipart,
      }),
    );
    assert.equal(res2.status, 400);
    assert.equal(((await res2.json()) as ErrorBody).error, `the form has more than ${MAX_FORM_PARTS} fields`);
  });

  test('(2) a single-valued field given twice is refused, naming it', async () => {
    const f = form({ image: blob(png), method: 'dot' });
    f.append('method', 'cosine');
    const res = await fetch(`${url}api/analyze`, { method: 'POST', body: f });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      error: 'the form gives "method" more than once',
      hint: 'send "method" once',
    });
    const q = await fetch(`${url}api/analyze?k=1&k=2`, { method: 'POST', body: form({ image: blob(png) }) });
    assert.equal(q.status, 400);
    assert.match(((await q.json()) as ErrorBody).error, /"k" is given 2 times/);
    const two = new FormData();
    two.append('image', blob(png));
    two.append('file', blob(png));
    const res2 = await fetch(`${url}api/analyze`, { method: 'POST', body: two });
    assert.equal(res2.status, 400);
  });

  test('(3) a 1x15M PNG is 413 from its header; nothing is decoded; /healthz answers', async () => {
    const before = model.encodeCalls;
    for (const [w, h, re] of [
      [1, 15_000_000, /sides must be at most 32768 pixels/],
      [1, 20_000, /at most 200 times each other/],
      [40_000, 2, /sides must be at most/],
    ] as const) {
      const res = await duringAttack(url, () =>
        fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(bombPng(w, h)) }) }),
      );
      assert.equal(res.status, 413, `${w}x${h}`);
      assert.match(((await res.json()) as ErrorBody).error, re);
    }
    assert.equal(model.encodeCalls, before);
  });

  test('(4) /api/render: a 3 MB word and a deeply nested result are 413, not 500; /healthz answers', async () => {
    const r = await (
      await fetch(`${url}api/analyze?k=1`, { method: 'POST', body: form({ image: blob(png) }) })
    ).text();
    const bigWord = r.replace(/"text":"[^"]*"/, `"text":"${'w'.repeat(3 << 20)}"`);
    const res = await duringAttack(url, () =>
      fetch(`${url}api/render`, { method: 'POST', body: form({ image: blob(png), result: bigWord }) }),
    );
    assert.equal(res.status, 413);
    assert.equal(
      ((await res.json()) as ErrorBody).error,
      'the "result" field is refused: a string is longer than 1024 characters',
    );
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const res2 = await fetch(`${url}api/render`, {
      method: 'POST',
      body: form({ image: blob(png), result: deep }),
    });
    assert.equal(res2.status, 413);
    assert.equal(
      ((await res2.json()) as ErrorBody).error,
      'the "result" field is refused: it nests deeper than 16 levels',
    );
    const tooBig = await fetch(`${url}api/render`, {
      method: 'POST',
      body: form({ image: blob(png), result: ' '.repeat((8 << 20) + 1) }),
    });
    assert.equal(tooBig.status, 400);
    assert.match(((await tooBig.json()) as ErrorBody).error, /form field "result" is 8388609 characters/);
  });

  test('(4) a deeply nested JSON body is 413, not a stack overflow', async () => {
    const res = await fetch(`${url}api/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"url":"http://x.example/a.png","k":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    });
    assert.equal(res.status, 413);
    assert.equal(
      ((await res.json()) as ErrorBody).error,
      'the JSON body is refused: it nests deeper than 4 levels',
    );
  });

  test('(3) the timeout stops the analysis at the next stage: the lens never runs', async () => {
    const slow = fakeModel({ encodeMs: 300 });
    const s = await startServer({ model: slow, analysisTimeoutMs: 50, log: () => {} });
    try {
      const res = await fetch(`${s.url}api/analyze`, { method: 'POST', body: form({ image: blob(png) }) });
      assert.equal(res.status, 503);
      assert.match(
        ((await res.json()) as ErrorBody).error,
        /did not finish within 0 s|did not finish within/,
      );
      await new Promise((r) => setTimeout(r, 400)); // the encode finishes; the aborted job stops there
      assert.equal(slow.lensCalls, 0);
      await healthyWithin1s(s.url);
    } finally {
      await s.stop();
    }
  });
});

describe('(10) Host header on loopback binds', () => {
  const hostStatus = (port: number, bind: string, host: string): Promise<number> =>
    new Promise((resolve, reject) => {
      request({ host: bind, port, path: '/healthz', headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });

  test('bound on 127.0.0.2: Host evil.example is 421; its own address and localhost are 200', async (t) => {
    const srv = createServer({ model: fakeModel(), log: () => {} });
    let port: number;
    try {
      ({ port } = await srv.listen(0, '127.0.0.2'));
    } catch {
      t.skip('127.0.0.2 cannot be bound on this machine');
      return;
    }
    try {
      assert.equal(await hostStatus(port, '127.0.0.2', 'evil.example'), 421);
      assert.equal(await hostStatus(port, '127.0.0.2', `evil.example:${port}`), 421);
      assert.equal(await hostStatus(port, '127.0.0.2', '127.0.0.1'), 421);
      assert.equal(await hostStatus(port, '127.0.0.2', `127.0.0.2:${port}`), 200);
      assert.equal(await hostStatus(port, '127.0.0.2', `localhost:${port}`), 200);
    } finally {
      await srv.close();
    }
  });

  test('(7) a port already in use is its own error', async () => {
    const a = createServer({ model: fakeModel(), log: () => {} });
    const b = createServer({ model: fakeModel(), log: () => {} });
    const { port } = await a.listen(0, '127.0.0.1');
    try {
      await assert.rejects(b.listen(port, '127.0.0.1'), {
        kind: 'address-in-use',
        message: `port ${port} on 127.0.0.1 is already in use`,
      });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
