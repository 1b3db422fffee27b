// URL fetches: private targets refused by default, size limit while streaming, redirects re-checked, timeout.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fetchImageUrl } from '../../src/server/fetch-url.js';

describe('fetchImageUrl', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/small') return res.end(Buffer.alloc(100, 1));
      if (req.url === '/big') {
        res.writeHead(200); // no Content-Length: the limit must hold while streaming
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000));
        return res.end();
      }
      if (req.url === '/redirect') {
        res.writeHead(302, { location: '/small' });
        return res.end();
      }
      if (req.url === '/hang') return; // never answers
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const opts = { maxBytes: 5000, timeoutMs: 500, allowPrivate: true };

  test('fetches, follows redirects, and enforces size, status and timeout', async () => {
    assert.equal((await fetchImageUrl(`${base}/small`, opts)).length, 100);
    assert.equal((await fetchImageUrl(`${base}/redirect`, opts)).length, 100);
    await assert.rejects(fetchImageUrl(`${base}/big`, opts), { kind: 'too-large' });
    await assert.rejects(fetchImageUrl(`${base}/missing`, opts), { kind: 'network', message: /HTTP 404/ });
    await assert.rejects(fetchImageUrl(`${base}/hang`, opts), { kind: 'network', message: /longer than/ });
  });

  test('refuses private addresses by default, by literal and by DNS name, and non-http schemes', async () => {
    const strict = { ...opts, allowPrivate: false };
    await assert.rejects(fetchImageUrl(`${base}/small`, strict), {
      kind: 'bad-input',
      message: /private address/,
    });
    await assert.rejects(fetchImageUrl(`http://localhost:1/x`, strict), {
      kind: 'bad-input',
      message: /private address/,
    });
    await assert.rejects(fetchImageUrl('file:///etc/passwd', strict), {
      kind: 'bad-input',
      message: /http or https/,
    });
    await assert.rejects(fetchImageUrl('not a url', strict), { kind: 'bad-input' });
  });
});
