// `imgtokens serve` flags, and runServe starting a server that answers /healthz while the model loads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImgTokensModel } from '../../src/api.js';
import { parseServeArgs, parseSize, runServe } from '../../src/cli/serve.js';
import { fakeModel } from '../server/fake-model.js';

test('parseServeArgs: defaults and limits', () => {
  const a = parseServeArgs([]);
  assert.ok(a !== 'help');
  assert.equal(a.host, '127.0.0.1');
  assert.equal(a.port, 8000);
  assert.equal(a.limits.maxUploadBytes, 20_000_000);
  const b = parseServeArgs([
    '--model',
    'dir',
    '-p',
    '0',
    '--max-upload',
    '512KiB',
    '--max-pixels',
    '1M',
    '--queue',
    '2',
    '--no-url',
  ]);
  assert.ok(b !== 'help');
  assert.deepEqual(
    [b.model, b.port, b.limits.maxUploadBytes, b.limits.maxPixels, b.limits.maxQueue, b.limits.allowUrls],
    ['dir', 0, 524288, 1e6, 2, false],
  );
  assert.equal(parseServeArgs(['--help']), 'help');
  assert.throws(() => parseServeArgs(['--port', '70000']), /--port takes a whole number from 0 to 65535/);
  assert.throws(() => parseServeArgs(['--max-upload', 'lots']), /--max-upload takes a positive size/);
  assert.throws(() => parseServeArgs(['--bogus']), { kind: 'bad-input' });
  assert.equal(parseSize('--cache', '1.5GB'), 1.5e9);
  const c = parseServeArgs(['--reference', 'v4', '--image-backend', 'torchvision']);
  assert.ok(c !== 'help');
  assert.deepEqual([c.reference, c.imageBackend], ['v4', 'torchvision']);
  assert.throws(() => parseServeArgs(['--reference', 'v6']), /--reference must be v4 or v5, got "v6"/);
  assert.throws(
    () => parseServeArgs(['--image-backend', 'cv2']),
    /--image-backend must be pil or torchvision/,
  );
});

test('runServe: healthz at once, readyz once the model has loaded', async () => {
  let resolve!: (m: ImgTokensModel) => void;
  const loading = new Promise<ImgTokensModel>((r) => (resolve = r));
  const seen: string[] = [];
  const { url, stop } = await runServe(
    ['--port', '0', '--quiet', '--model', 'fake/tiny'],
    async (id, opts) => {
      seen.push(id);
      opts.onProgress?.({ status: 'initiate', task: 'download', label: 'weights', total: 10, unit: 'bytes' });
      return loading;
    },
  );
  try {
    assert.deepEqual(seen, ['fake/tiny']);
    assert.ok(url);
    assert.equal((await fetch(`${url}healthz`)).status, 200);
    assert.equal((await fetch(`${url}readyz`)).status, 503);
    resolve(fakeModel());
    await new Promise((r) => setTimeout(r, 10));
    assert.equal((await fetch(`${url}readyz`)).status, 200);
  } finally {
    await stop();
  }
});
