// Installing: onnxruntime-node's install script skips its CUDA download when ONNXRUNTIME_NODE_INSTALL=skip
// (read by the script itself, so npm does not warn "Unknown config"); the project's .npmrc keeps the same skip for a
// bare `npm ci` (npm 10 and 11 warn about that line, but honour it).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(import.meta.url);

test('onnxruntime-node reads ONNXRUNTIME_NODE_INSTALL=skip and exits its install script at once', () => {
  const script = require.resolve('onnxruntime-node/script/install.js');
  const r = spawnSync(process.execPath, [script], {
    env: { PATH: process.env.PATH, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout + r.stderr, '', 'no download attempted, nothing printed');
  const { parseInstallFlag } = require('onnxruntime-node/script/install-utils.js') as {
    parseInstallFlag: () => unknown;
  };
  const before = process.env.ONNXRUNTIME_NODE_INSTALL;
  process.env.ONNXRUNTIME_NODE_INSTALL = 'skip';
  try {
    assert.equal(parseInstallFlag(), false);
  } finally {
    if (before === undefined) delete process.env.ONNXRUNTIME_NODE_INSTALL;
    else process.env.ONNXRUNTIME_NODE_INSTALL = before;
  }
});

test('.npmrc keeps a bare npm ci skipping the download; CI and the Dockerfile also set the variable', () => {
  const settings = readFileSync('.npmrc', 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  assert.deepEqual(settings, ['onnxruntime-node-install=skip']);
  assert.match(readFileSync('.ci/run', 'utf8'), /^ONNXRUNTIME_NODE_INSTALL=skip npm ci/m);
  assert.match(readFileSync('Dockerfile', 'utf8'), /ONNXRUNTIME_NODE_INSTALL=skip/);
});
