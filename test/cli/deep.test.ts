/**
 * The deep lens from the command line, end to end from the image (through tsx, as a user runs it): --layers with
 * --json and --dump-tensors on tiny-llava-next, the JSON validated as imgtokens.result/2 and the dump compared
 * with the 4.45.1 deep fixture (test/fixtures/deep); then the deep flags' errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseNpy } from '../../src/util/npy.js';
import { parseResult, validateResult } from '../../src/render/json.js';

const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-deep-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: join(tmp, 'hf') },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const npy = (p: string) => parseNpy(readFileSync(p));

function maxRel(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let d = 0;
  for (let i = 0; i < got.length; i++)
    d = Math.max(d, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return d;
}

test('--layers all --json --dump-tensors: a valid imgtokens.result/2 and the fixtures-deep tensors', () => {
  const out = join(tmp, 'dump');
  const json = join(tmp, 'deep.json');
  const r = cli([
    'test/fixtures/llava/images/portrait_45x90.jpg',
    '--model',
    'test/fixtures/llava/tiny-llava-next',
    '--image-backend',
    'pil', // fixtures-deep is computed from Pillow pixels
    '--image-backend',
    'pil', // the Pillow-exact pixels of the 4.45.1 fixture (torchvision is transformers 5's default)
    '--layers',
    'all',
    '--reference',
    'v4',
    '-k',
    '10',
    '--method',
    'cosine',
    '--json',
    json,
    '--dump-tensors',
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /decoder layer 2\/2/);
  assert.match(r.stderr, /deep lens over 3 of 3 hidden states, next token/);
  const text = readFileSync(json, 'utf8');
  assert.deepEqual(validateResult(JSON.parse(text)), []);
  const res = parseResult(text);
  assert.equal(res.schema, 'imgtokens.result/2');
  const deep = res.deep!;
  assert.equal(deep.reference, 'v4');
  assert.deepEqual(
    deep.layers.map((l) => l.layer),
    [0, 1, 2],
  );
  assert.equal(deep.prompt.imagePositions.length, res.tokens.length);
  assert.equal(deep.layers[0]!.logit.length, res.tokens.length);
  assert.equal(deep.next.length, 10);

  const fx = 'test/fixtures/deep/tiny-llava-next/portrait_45x90';
  const ids = npy(join(out, 'input_ids.npy'));
  assert.deepEqual(ids.shape, [1, 302]);
  assert.deepEqual(
    Array.from(ids.data as BigInt64Array),
    Array.from(npy(join(fx, 'input_ids.npy')).data as BigInt64Array),
  );
  const hs = npy(join(out, 'hidden_states.npy'));
  assert.deepEqual(hs.shape, [3, 208, 48]);
  const dh = maxRel(hs.data as Float32Array, npy(join(fx, 'hidden_states.npy')).data as Float32Array);
  const lensIds = npy(join(out, 'lens_ids.npy'));
  assert.deepEqual(lensIds.shape, [3, 208, 10]);
  const want = npy(join(fx, 'lens_ids.npy')).data as BigInt64Array;
  const ties = (
    JSON.parse(readFileSync(join(fx, 'ties.json'), 'utf8')) as { nearTies: Record<string, number[]> }
  ).nearTies;
  const got = lensIds.data as BigInt64Array;
  for (let row = 0; row < 3 * 208; row++) {
    if (ties[String(Math.floor(row / 208))]?.includes(row % 208)) continue;
    assert.deepEqual(
      Array.from(got.subarray(row * 10, row * 10 + 10)),
      Array.from(want.subarray(row * 10, row * 10 + 10)),
    );
  }
  const df = maxRel(
    npy(join(out, 'final_logits.npy')).data as Float32Array,
    npy(join(fx, 'final_logits.npy')).data as Float32Array,
  );
  console.log(`  from the image: hidden states ${dh.toExponential(2)}, final logits ${df.toExponential(2)}`);
  assert.ok(dh <= 1e-4 && df <= 1e-4);
});

test('deep flags: --prompt without --layers, bad --reference, --raw-prompt without the placeholder', () => {
  const base = [
    'test/fixtures/llava/images/shapes_120x80.png',
    '--model',
    'test/fixtures/llava/tiny-llava',
    '-q',
  ];
  let r = cli([...base, '--prompt', 'hi']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--prompt needs --layers/);
  r = cli([...base, '--layers', 'all', '--reference', 'v3']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--reference must be v4 or v5/);
  r = cli([...base, '--layers', '9']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /past the last one \(2\)/);
  r = cli([...base, '--layers', 'all', '--raw-prompt', 'no image here']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /0 image tokens/);
});

test('batch --layers: every line is an imgtokens.result/2 with the chosen layers', () => {
  const out = join(tmp, 'batch.jsonl');
  const r = cli([
    'batch',
    'test/fixtures/llava/images/shapes_120x80.png',
    'test/fixtures/llava/images/checker_64x64.png',
    '--model',
    'test/fixtures/llava/tiny-llava',
    '--layers',
    '0,2',
    '--out',
    out,
    '--no-worker',
    '-q',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
  for (const l of lines) {
    const { result } = JSON.parse(l) as { result: unknown };
    assert.deepEqual(validateResult(result), []);
    const res = result as { schema: string; deep: { layers: Array<{ layer: number }>; next: unknown[] } };
    assert.equal(res.schema, 'imgtokens.result/2');
    assert.deepEqual(
      res.deep.layers.map((x) => x.layer),
      [0, 2],
    );
    assert.equal(res.deep.next.length, 1);
  }
});
