// URL fetches: every spelling of a non-public address refused (IP literals and DNS names, on every hop), one
// generic error for every failure with the detail kept for the log, size limit while streaming, timeout.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  URL_FETCH_FAILED,
  UrlFetchError,
  fetchImageUrl,
  type FetchUrlOptions,
} from '../../src/server/fetch-url.js';
import { isPublicAddress } from '../../src/server/address.js';

describe('fetchImageUrl', () => {
  let server: Server;
  let base: string;
  let port: number;
  let hits = 0;
  before(async () => {
    server = createServer((req, res) => {
      hits++;
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
      if (req.url?.startsWith('/to/')) {
        res.writeHead(302, { location: decodeURIComponent(req.url.slice(4)) });
        return res.end();
      }
      if (req.url === '/hang') return; // never answers
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const opts: FetchUrlOptions = { maxBytes: 5000, timeoutMs: 500, allowPrivate: true };
  const failed = (reason: RegExp) => (e: unknown) => {
    assert.ok(e instanceof UrlFetchError, String(e));
    assert.equal(e.message, URL_FETCH_FAILED);
    assert.equal(e.kind, 'network');
    assert.match(e.reason, reason);
    return true;
  };

  test('fetches, follows redirects, and fails size, status and timeout with one message', async () => {
    assert.equal((await fetchImageUrl(`${base}/small`, opts)).length, 100);
    assert.equal((await fetchImageUrl(`${base}/redirect`, opts)).length, 100);
    await assert.rejects(fetchImageUrl(`${base}/big`, opts), failed(/more than/));
    await assert.rejects(fetchImageUrl(`${base}/missing`, opts), failed(/HTTP 404/));
    await assert.rejects(fetchImageUrl(`${base}/hang`, opts), failed(/longer than/));
    await assert.rejects(fetchImageUrl('http://127.0.0.1:1/x', opts), failed(/ECONNREFUSED/));
  });

  test('every spelling of loopback and other non-public literals is refused before connecting', async () => {
    const strict = { ...opts, allowPrivate: false };
    const before = hits;
    const hosts = [
      '127.0.0.1',
      '[::ffff:7f00:1]', // IPv4-mapped, hex tail (the red-team bypass)
      '[0:0:0:0:0:ffff:7f00:1]',
      '[::ffff:127.0.0.1]',
      '[::127.0.0.1]', // IPv4-compatible
      '[64:ff9b::7f00:1]', // NAT64
      '[2002:7f00:1::1]', // 6to4
      '0x7f.1',
      '2130706433',
      '0177.0.0.1',
      '127.1',
      '[::1]',
      '[::]',
      '0.0.0.0',
      '[fe80::1]',
      '[fd00::1]',
      '[ff02::1]',
      '169.254.169.254',
      'localhost',
    ];
    for (const h of hosts) {
      await assert.rejects(fetchImageUrl(`http://${h}:${port}/small`, strict), failed(/non-public/), h);
    }
    assert.equal(hits, before, 'no request reached the loopback server');
  });

  test('a redirect to a non-public spelling is refused on that hop', async () => {
    // Allow exactly the test server's address, as a public host would be allowed.
    const only = { ...opts, allowPrivate: false, allowAddress: (a: string) => a === '127.0.0.1' };
    for (const target of [
      `http://[::ffff:7f00:1]:${port}/small`,
      `http://[::ffff:127.0.0.2]:${port}/small`,
      `http://0x7f000002:${port}/small`,
      `http://[::1]:${port}/small`,
    ]) {
      const before = hits;
      await assert.rejects(
        fetchImageUrl(`${base}/to/${encodeURIComponent(target)}`, only),
        failed(/non-public/),
        target,
      );
      assert.equal(hits, before + 1, `only the first hop reached the server (${target})`);
    }
  });

  test('URL syntax errors are bad input with a clipped URL; a huge host name never reaches DNS', async () => {
    const strict = { ...opts, allowPrivate: false };
    await assert.rejects(fetchImageUrl('file:///etc/passwd', strict), {
      kind: 'bad-input',
      message: /http or https/,
    });
    await assert.rejects(fetchImageUrl('not a url', strict), { kind: 'bad-input' });
    const huge = `http://${'a'.repeat(19 << 20)}.example/x.png`;
    await assert.rejects(fetchImageUrl(huge, strict), (e: unknown) => {
      assert.equal((e as Error & { kind: string }).kind, 'bad-input');
      assert.ok((e as Error).message.length < 200, `message is ${(e as Error).message.length} chars`);
      return true;
    });
    const long = `http://${'a'.repeat(4000)}.example/x.png`;
    await assert.rejects(fetchImageUrl(long, strict), (e: unknown) => {
      assert.ok(e instanceof UrlFetchError);
      assert.ok(e.reason.length < 400 && e.message === URL_FETCH_FAILED);
      return true;
    });
  });

  test('isPublicAddress classifies each special range', () => {
    const notPublic = [
      '::ffff:7f00:1',
      '::ffff:a00:1',
      '::a00:1',
      '64:ff9b::a00:1',
      '64:ff9b:1::1',
      '2002:c0a8:101::1',
      '2001::1', // Teredo
      '2001:db8::1',
      'fec0::1',
      'fe80::1%eth0',
      '100.64.0.1',
      '192.0.0.8',
      '198.18.0.1',
      '224.0.0.1',
      '255.255.255.255',
      'example.com',
      '',
    ];
    for (const a of notPublic) assert.equal(isPublicAddress(a), false, a);
    for (const a of ['8.8.8.8', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2606:4700::1111'])
      assert.equal(isPublicAddress(a), true, a);
  });
});
