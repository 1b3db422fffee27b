// Each server limit in turn: upload size, sniffed content, header pixel count (decompression bomb), the
// bounded analysis queue (503 + Retry-After), the analysis timeout, and slow clients (slowloris).
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { blob, bombPng, form, startServer } from './helpers.js';
import { fakeModel, pngOf } from './fake-model.js';

type ErrorBody = { error: string; hint?: string };

describe('limits', () => {
  test('an upload over --max-upload is 413 with the limit in the message', async () => {
    const model = fakeModel();
    const { url, stop } = await startServer({ model, maxUploadBytes: 10_000 });
    try {
      const big = new Uint8Array(200_000);
      big.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const res = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(big) }) });
      assert.equal(res.status, 413);
      const body = (await res.json()) as ErrorBody;
      assert.match(body.error, /upload limit of 9\.8 KiB/);
      assert.match(body.hint ?? '', /--max-upload/);
      // Within the multipart allowance but over the image limit: still 413, naming the image size.
      const edge = new Uint8Array(12_000);
      const res2 = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(edge) }) });
      assert.equal(res2.status, 413);
      assert.match(((await res2.json()) as ErrorBody).error, /the image is 11\.7 KiB/);
      assert.equal(model.encodeCalls, 0);
    } finally {
      await stop();
    }
  });

  test('something that is not an image is 400 whatever its Content-Type says', async () => {
    const model = fakeModel();
    const { url, stop } = await startServer({ model });
    try {
      const html = new TextEncoder().encode('<html><script>alert(1)</script></html>');
      const res = await fetch(`${url}api/analyze`, {
        method: 'POST',
        body: form({ image: [blob(html, 'image/png'), 'photo.png'] }),
      });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as ErrorBody).error, /not a JPEG, PNG, GIF or WebP/);
      // A PNG signature with a garbage header is refused too, before decoding.
      const fake = new Uint8Array(64);
      fake.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const res2 = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(fake) }) });
      assert.equal(res2.status, 400);
      assert.match(((await res2.json()) as ErrorBody).error, /header could not be read/);
      assert.equal(model.encodeCalls, 0);
    } finally {
      await stop();
    }
  });

  test('a decompression bomb (PNG header claiming 50000x50000) is 413 before decoding', async () => {
    const model = fakeModel();
    const { url, stop } = await startServer({ model, maxPixels: 4_000_000 });
    try {
      const bomb = bombPng(50_000, 50_000);
      assert.ok(bomb.length < 2000);
      const t0 = performance.now();
      const res = await fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(bomb) }) });
      assert.equal(res.status, 413);
      const body = (await res.json()) as ErrorBody;
      assert.match(body.error, /50000x50000 = 2,500,000,000 pixels, over this server's limit of 4,000,000/);
      assert.match(body.hint ?? '', /--max-pixels/);
      assert.equal(model.encodeCalls, 0);
      assert.ok(performance.now() - t0 < 5000);
    } finally {
      await stop();
    }
  });

  test('a full queue answers 503 with Retry-After; queued requests still finish', async () => {
    const model = fakeModel({ encodeMs: 150 });
    const { url, stop } = await startServer({ model, maxQueue: 2 });
    try {
      const imgs = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => pngOf(8 + i, 8, [i * 40, 0, 0])));
      const results = await Promise.all(
        imgs.map((img) => fetch(`${url}api/analyze`, { method: 'POST', body: form({ image: blob(img) }) })),
      );
      const statuses = results.map((r) => r.status).sort();
      // One running, two waiting, three refused.
      assert.deepEqual(statuses, [200, 200, 200, 503, 503, 503]);
      for (const r of results.filter((x) => x.status === 503)) {
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
        assert.match(((await r.json()) as ErrorBody).error, /busy/);
      }
      assert.equal(model.maxConcurrent, 1);
    } finally {
      await stop();
    }
  });

  test('an analysis over --timeout answers 503 with Retry-After', async () => {
    const model = fakeModel({ encodeMs: 400 });
    const { url, stop } = await startServer({ model, analysisTimeoutMs: 100 });
    try {
      const res = await fetch(`${url}api/analyze`, {
        method: 'POST',
        body: form({ image: blob(await pngOf(8, 8, [1, 1, 1])) }),
      });
      assert.equal(res.status, 503);
      assert.ok(res.headers.get('retry-after'));
      assert.match(((await res.json()) as ErrorBody).error, /did not finish within/);
    } finally {
      await stop();
    }
  });

  test('slow clients are cut off: headers dripped past the headers timeout, a body past the request timeout', async () => {
    const { url, stop } = await startServer({
      model: fakeModel(),
      headersTimeoutMs: 300,
      requestTimeoutMs: 600,
    });
    try {
      const { port } = new URL(url);
      // Slowloris: one header line every 100 ms, never finishing.
      const drip = await openSocket(Number(port));
      drip.socket.write('POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const timer = setInterval(
        () => drip.socket.writable && drip.socket.write(`X-A: ${'a'.repeat(10)}\r\n`),
        100,
      );
      const t0 = performance.now();
      await drip.closed;
      clearInterval(timer);
      const waited = performance.now() - t0;
      assert.ok(waited < 5000, `headers: closed after ${waited} ms`);
      assert.match(drip.received(), /^HTTP\/1\.1 408/);

      // Complete headers, then a body that never finishes.
      const slow = await openSocket(Number(port));
      slow.socket.write(
        'POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n',
      );
      const timer2 = setInterval(() => slow.socket.writable && slow.socket.write('x'), 100);
      await slow.closed;
      clearInterval(timer2);
      assert.match(slow.received(), /^HTTP\/1\.1 408/);
      assert.ok(performance.now() - t0 < 8000);
    } finally {
      await stop();
    }
  });
});

function openSocket(
  port: number,
): Promise<{ socket: Socket; closed: Promise<void>; received: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.once('connect', () => resolve({ socket, closed, received: () => data }));
    socket.once('error', reject);
  });
}
