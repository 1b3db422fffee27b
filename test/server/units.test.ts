// The server's building blocks on their own: format sniffing, the byte-bounded LRU, the serial queue,
// parameter parsing and the private-address check used by URL fetches.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BadInputError, BusyError } from '../../src/errors.js';
import { FeatureCache, featuresBytes, imageKey } from '../../src/server/cache.js';
import { isPrivateAddress } from '../../src/server/fetch-url.js';
import { sniffImageFormat } from '../../src/server/limits.js';
import { DEFAULT_K, DEFAULT_METHOD } from '../../src/lens-methods.js';
import { parseAnalyzeParams } from '../../src/server/params.js';
import { AnalysisQueue } from '../../src/server/queue.js';
import type { ImageFeatures } from '../../src/types.js';

const bytes = (...b: number[]) => new Uint8Array([...b, ...new Array(16).fill(0)]);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

function features(floats: number): ImageFeatures {
  return {
    image: { width: 1, height: 1 },
    pixelValues: new Float32Array(0),
    pixelShape: [0],
    cropFeatures: new Float32Array(0),
    cropShape: [0],
    features: new Float32Array(floats),
    hidden: 1,
    layout: { imageWidth: 1, imageHeight: 1, views: [], tokens: [] },
    rgb: { width: 1, height: 1, data: new Uint8Array(3) },
  };
}

describe('server units', () => {
  test('sniffImageFormat reads magic bytes only', () => {
    assert.equal(sniffImageFormat(bytes(0xff, 0xd8, 0xff, 0xe0)), 'jpeg');
    assert.equal(sniffImageFormat(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)), 'png');
    assert.equal(sniffImageFormat(bytes(...ascii('GIF89a'))), 'gif');
    assert.equal(sniffImageFormat(bytes(...ascii('RIFF'), 1, 2, 3, 4, ...ascii('WEBP'))), 'webp');
    assert.equal(sniffImageFormat(bytes(...ascii('RIFF'), 1, 2, 3, 4, ...ascii('WAVE'))), null);
    assert.equal(sniffImageFormat(bytes(...ascii('<svg'))), null);
    assert.equal(sniffImageFormat(new Uint8Array([0xff, 0xd8])), null);
  });

  test('FeatureCache evicts least recently used entries to stay under its byte budget', () => {
    const one = featuresBytes(features(1000));
    const cache = new FeatureCache(one * 2 + 10);
    cache.set('a', features(1000));
    cache.set('b', features(1000));
    assert.ok(cache.get('a')); // a is now the most recent
    cache.set('c', features(1000));
    assert.equal(cache.size, 2);
    assert.ok(cache.get('a') && cache.get('c'));
    assert.equal(cache.get('b'), undefined);
    assert.ok(cache.bytes <= cache.maxBytes);
    cache.set('huge', features(100_000)); // bigger than the whole cache: not stored
    assert.equal(cache.get('huge'), undefined);
    assert.equal(cache.size, 2);
    assert.notEqual(imageKey(new Uint8Array([1])), imageKey(new Uint8Array([2])));
    assert.notEqual(imageKey(new Uint8Array([1])), imageKey(new Uint8Array([1]), 'exif'));
  });

  test('AnalysisQueue runs one job at a time and refuses past its bound', async () => {
    const q = new AnalysisQueue(1);
    let running = 0;
    let peak = 0;
    const job = (v: number) => async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return v;
    };
    const positions: number[] = [];
    const a = q.run(job(1), { timeoutMs: 5000 });
    const b = q.run(job(2), { timeoutMs: 5000, onQueued: (p) => positions.push(p) });
    await assert.rejects(q.run(job(3), { timeoutMs: 5000 }), (e: unknown) => {
      assert.ok(e instanceof BusyError);
      assert.ok(e.retryAfterSeconds >= 1);
      return true;
    });
    assert.deepEqual(await Promise.all([a, b]), [1, 2]);
    assert.equal(peak, 1);
    assert.deepEqual(positions, [1]);
    assert.equal(q.stats().rejected, 1);
    // A job that throws frees the queue for the next one.
    await assert.rejects(
      q.run(() => Promise.reject(new Error('boom')), { timeoutMs: 5000 }),
      /boom/,
    );
    assert.equal(await q.run(job(4), { timeoutMs: 5000 }), 4);
  });

  test('parseAnalyzeParams: defaults, repeats refused, and errors that name the field', () => {
    const from = (m: Record<string, string[]>) => (k: string) => m[k] ?? [];
    assert.deepEqual(parseAnalyzeParams(from({}), 50), {
      method: DEFAULT_METHOD,
      k: DEFAULT_K,
      exclude: [],
      view: 'all',
      requestId: undefined,
    });
    const p = parseAnalyzeParams(
      from({ method: ['omp'], k: ['10'], exclude: ['bytes,special', 'bytes'] }),
      50,
    );
    assert.deepEqual([p.method, p.k, p.exclude], ['omp', 10, ['bytes', 'special']]);
    assert.deepEqual(parseAnalyzeParams(from({ exclude: ['none'] }), 50).exclude, []);
    for (const view of ['base', 'grid', 'tiles', 'thumbnail', 'all']) {
      assert.equal(parseAnalyzeParams(from({ view: [view] }), 50).view, view);
    }
    const cases: Array<[Record<string, string[]>, RegExp]> = [
      [{ method: ['OMP'] }, /"method" must be one of cosine/],
      [{ k: ['2.5'] }, /"k" must be a whole number from 1 to 50/],
      [{ k: ['99'] }, /"k"/],
      [{ view: ['x'] }, /"view" must be one of base, grid, tiles, thumbnail, all/],
      [{ exclude: ['emoji'] }, /"exclude"/],
      [{ request: ['../../x'] }, /"request"/],
      [{ method: ['omp', 'dot'] }, /"method" is given 2 times; give it once/],
    ];
    for (const [m, re] of cases) {
      assert.throws(
        () => parseAnalyzeParams(from(m), 50),
        (e: unknown) => {
          assert.ok(e instanceof BadInputError);
          assert.match(e.message, re);
          return true;
        },
      );
    }
  });

  test('isPrivateAddress covers loopback, RFC 1918, link-local, CGNAT and IPv6 local ranges', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
    ]) {
      assert.equal(isPrivateAddress(a), true, a);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111'])
      assert.equal(isPrivateAddress(a), false, a);
  });
});
