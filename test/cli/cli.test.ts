/**
 * The imgtokens command end to end (through tsx, as a user runs it): tensor dumps against the golden fixtures,
 * outputs, and one-line actionable errors with a non-zero exit for bad input.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { parseNpy } from '../../src/util/npy.js';
import { validateResult, validateWordsGrid } from '../../src/render/json.js';
import { assertClose, npyF32 } from '../helpers/golden.js';
import type { ResultJson } from '../../src/types.js';

const FIX = 'test/fixtures/llava';
const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[], input?: Buffer): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    input,
    env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: join(tmp, 'hf') },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function lastLine(s: string): string {
  return (
    s
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('hint:'))
      .pop() ?? ''
  );
}

test('--dump-tensors (llava_next) matches the golden pixel_values, crop_features, image_features and layout', () => {
  const out = join(tmp, 'dump-next');
  const r = cli([
    `${FIX}/images/portrait_45x90.jpg`,
    '--model',
    `${FIX}/tiny-llava-next`,
    '--image-backend',
    'pil', // the 4.45.1 goldens are Pillow pixels
    '--dump-tensors',
    out,
    '-q',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const exp = `${FIX}/tiny-llava-next/expected/portrait_45x90`;
  const px = parseNpy(readFileSync(join(out, 'pixel_values.npy')));
  assert.deepEqual(px.shape, [1, 3, 3, 32, 32]);
  assertClose(px.data as Float32Array, npyF32(`${exp}/pixel_values.npy`).data, 0, 'pixel_values');
  assertClose(
    npyF32(join(out, 'crop_features.npy')).data,
    npyF32(`${exp}/crop_features.npy`).data,
    1e-4,
    'crop_features',
  );
  const feats = npyF32(join(out, 'image_features.npy'));
  assert.deepEqual(feats.shape, [208, 48]);
  assertClose(feats.data, npyF32(`${exp}/image_features.npy`).data, 1e-4, 'image_features');
  const layout = JSON.parse(readFileSync(join(out, 'layout.json'), 'utf8')) as {
    tokens: Array<{ kind: string; index: number }>;
  };
  const expected = JSON.parse(readFileSync(`${exp}/expected.json`, 'utf8')) as {
    anyres: { newline_positions: number[] };
  };
  assert.deepEqual(
    layout.tokens.filter((t) => t.kind === 'newline').map((t) => t.index),
    expected.anyres.newline_positions,
  );
});

test('--dump-tensors (llava) writes [1,3,H,W] pixels and no crop_features', () => {
  const out = join(tmp, 'dump-llava');
  const r = cli([
    `${FIX}/images/gradient_37x23.png`,
    '--model',
    `${FIX}/tiny-llava`,
    '--image-backend',
    'pil', // the 4.45.1 goldens are Pillow pixels
    '--dump-tensors',
    out,
    '-q',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(parseNpy(readFileSync(join(out, 'pixel_values.npy'))).shape, [1, 3, 32, 32]);
  assert.equal(existsSync(join(out, 'crop_features.npy')), false);
  assertClose(
    npyF32(join(out, 'image_features.npy')).data,
    npyF32(`${FIX}/tiny-llava/expected/gradient_37x23/image_features.npy`).data,
    1e-4,
    'image_features',
  );
});

test("--dump-tensors (idefics3) writes the processor's [1, tiles, 3, M, M] pixels and image_features per --image-backend", () => {
  const exp = 'test/fixtures/modern/tiny-idefics3/expected/portrait_45x90';
  for (const [backend, suffix] of [
    [null, ''],
    ['pil', '_pil'],
  ] as const) {
    const out = join(tmp, `dump-idefics3-${backend ?? 'default'}`);
    const r = cli([
      'test/fixtures/arch/images/portrait_45x90.jpg',
      '--model',
      'test/fixtures/modern/tiny-idefics3',
      ...(backend ? ['--image-backend', backend] : []),
      '--dump-tensors',
      out,
      '--json',
      `${out}-result.json`,
      '-q',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(readFileSync(`${out}-result.json`, 'utf8')) as ResultJson;
    assert.deepEqual(validateResult(result), []);
    // the text tokens between the tiles travel with the result: 6 tiles' <fake_token_around_image><row_r_col_c>
    assert.equal(result.specials?.filter((sp) => /^<row_\d+_col_\d+>$/.test(sp.text)).length, 6);
    const px = parseNpy(readFileSync(join(out, 'pixel_values.npy')));
    assert.deepEqual(px.shape, [1, 7, 3, 32, 32]);
    assertClose(px.data as Float32Array, npyF32(`${exp}/pixel_values${suffix}.npy`).data, 0, 'pixel_values');
    const feats = npyF32(join(out, 'image_features.npy'));
    assert.deepEqual(feats.shape, [112, 48]);
    assertClose(feats.data, npyF32(`${exp}/image_features${suffix}.npy`).data, 1e-4, 'image_features');
    const layout = JSON.parse(readFileSync(join(out, 'layout.json'), 'utf8')) as {
      specials: Array<{ text: string }>;
    };
    assert.equal(layout.specials.filter((sp) => sp.text === '<global-img>').length, 1);
  }
  const bad = cli(['test/fixtures/arch/images/portrait_45x90.jpg', '--image-backend', 'cv2', '-q']);
  assert.equal(bad.code, 2);
  assert.match(lastLine(bad.stderr), /--image-backend must be pil or torchvision/);
});

test("--image-backend torchvision (qwen2_5_vl) dumps transformers 5.12.1's default pixels bit for bit; models lists the backends", () => {
  const exp = 'test/fixtures/modern/tiny-qwen2_5-vl/expected/portrait_45x90';
  for (const [backend, file] of [
    ['torchvision', 'pixel_values.npy'],
    ['pil', 'pixel_values_pil.npy'],
  ] as const) {
    const out = join(tmp, `dump-qwen2_5-${backend}`);
    const r = cli([
      'test/fixtures/modern/images/portrait_45x90.jpg',
      '--model',
      'test/fixtures/modern/tiny-qwen2_5-vl',
      '--image-backend',
      backend,
      '--dump-tensors',
      out,
      '--json',
      `${out}-result.json`,
      '-q',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(readFileSync(`${out}-result.json`, 'utf8')) as {
      model: { imageBackend?: string };
    };
    assert.deepEqual(validateResult(result), []);
    assert.equal(result.model.imageBackend, backend);
    const px = parseNpy(readFileSync(join(out, 'pixel_values.npy')));
    assertClose(px.data as Float32Array, npyF32(`${exp}/${file}`).data, 0, `${backend} pixel_values`);
  }
  const models = cli(['models']);
  assert.equal(models.code, 0, models.stderr);
  const backendsOf = (type: string) =>
    new RegExp(`^${type} [\\s\\S]*?\\n  image backends: ([^\\n]*)`, 'm').exec(models.stdout)?.[1];
  assert.equal(backendsOf('llava'), 'pil, torchvision (default)');
  assert.equal(backendsOf('qwen2_5_vl'), 'pil, torchvision (default)');
  assert.equal(backendsOf('idefics3'), 'pil, torchvision (default)');
  for (const t of ['smolvlm', 'internvl', 'gemma3', 'gemma4'])
    assert.equal(backendsOf(t), 'pil, torchvision (default)', t);
});

test('writes PNG, HTML, JSON and save-words; reads the image from stdin', () => {
  const png = join(tmp, 'o.png');
  const html = join(tmp, 'o.html');
  const json = join(tmp, 'o.json');
  const words = join(tmp, 'w.json');
  const img = readFileSync(`${FIX}/images/shapes_120x80.png`);
  const r = cli(
    [
      '-',
      '--model',
      `${FIX}/tiny-llava-next`,
      '--method',
      'cosine',
      '-k',
      '3',
      '--save-img',
      png,
      '--save-html',
      html,
      '--json',
      json,
      '--save-words',
      words,
      '--exclude',
      'special,bytes',
    ],
    img,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...readFileSync(png).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.match(readFileSync(html, 'utf8'), /^<!doctype html>/i);
  const result = JSON.parse(readFileSync(json, 'utf8')) as {
    schema: string;
    tokens: Array<{ top: Array<{ id: number }> }>;
    method: string;
    k: number;
  };
  assert.deepEqual(validateResult(result), []);
  assert.equal(result.schema, 'imgtokens.result/1');
  assert.equal(result.tokens.length, 234);
  assert.equal(result.method, 'cosine');
  // --exclude special,bytes: no special (0-2, 510, 511) or byte (3-258) ids anywhere.
  for (const t of result.tokens)
    for (const w of t.top) assert.ok(w.id > 258 && w.id < 510, `excluded id ${w.id} shown`);
  const grid = JSON.parse(readFileSync(words, 'utf8')) as unknown;
  assert.deepEqual(validateWordsGrid(grid), []);
  assert.equal((grid as string[][]).length, 8);
});

test('piped with no output flags prints the words as text', () => {
  const r = cli([`${FIX}/images/checker_64x64.png`, '--model', `${FIX}/tiny-llava`, '-q']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /base view · 8×8/);
});

const bad: Array<[string, string[], RegExp]> = [
  ['missing image', ['nope.png', '--model', `${FIX}/tiny-llava`], /no such file: nope.png/],
  [
    'not an image',
    ['README.md', '--model', `${FIX}/tiny-llava`],
    /not a readable image; supported formats are JPEG, PNG, WebP or GIF/,
  ],
  [
    'unknown method',
    [`${FIX}/images/checker_64x64.png`, '--model', `${FIX}/tiny-llava`, '--method', 'nearest'],
    /unknown --method "nearest"; choose one of cosine, dot, l2, omp, ompp, logit, logit-raw/,
  ],
  [
    'zero words',
    [`${FIX}/images/checker_64x64.png`, '--model', `${FIX}/tiny-llava`, '-k', '0'],
    /--num-words must be an integer from 1 to 100, got "0"/,
  ],
  [
    'absurd words',
    [`${FIX}/images/checker_64x64.png`, '--model', `${FIX}/tiny-llava`, '-k', '100000'],
    /--num-words must be an integer from 1 to 100/,
  ],
  [
    'unwritable output',
    [
      `${FIX}/images/checker_64x64.png`,
      '--model',
      `${FIX}/tiny-llava`,
      '--save-img',
      '/nonexistent-dir/x.png',
    ],
    /--save-img \/nonexistent-dir\/x.png: folder \/nonexistent-dir does not exist/,
  ],
  [
    'bad --layer',
    [`${FIX}/images/checker_64x64.png`, '--model', `${FIX}/tiny-llava`, '--layer', 'x'],
    /--layer must be an integer from 0 to 1000, got "x"/,
  ],
  [
    '--layer without the deep lens',
    [`${FIX}/images/checker_64x64.png`, '--model', `${FIX}/tiny-llava`, '--layer', '3', '--no-inline'],
    /this result has no deep lens, so there is no layer to draw/,
  ],
  [
    'missing model dir',
    [`${FIX}/images/checker_64x64.png`, '--model', './no-such-model'],
    /no such directory: .\/no-such-model/,
  ],
];
for (const [name, args, re] of bad) {
  test(`bad input: ${name}`, () => {
    const r = cli(args);
    assert.notEqual(r.code, 0);
    assert.equal(r.code, 2); // bad-input exit code
    assert.match(lastLine(r.stderr), re);
    assert.equal(r.stdout, '');
  });
}

test('bad model: unsupported model_type names the supported ones; a missing tensor names the tensor', () => {
  const dir = join(tmp, 'odd-model');
  cpSync(`${FIX}/tiny-llava`, dir, { recursive: true });
  const cfgPath = join(dir, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, model_type: 'blip_2' }));
  let r = cli([`${FIX}/images/checker_64x64.png`, '--model', dir]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /model_type "blip_2" is not supported/);
  assert.match(r.stderr, /supported model types: llava, llava_next(, [a-z_0-9]+)*\n/);

  // Drop the projector's linear_2 bias from the checkpoint by renaming it in the header (same length keeps offsets).
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const st = join(dir, 'model.safetensors');
  const buf = readFileSync(st);
  const n = Number(buf.readBigUInt64LE(0));
  const header = buf
    .subarray(8, 8 + n)
    .toString('utf8')
    .replace('multi_modal_projector.linear_2.bias', 'multi_modal_projector.linear_9.bias');
  buf.write(header, 8, 'utf8');
  writeFileSync(st, buf);
  r = cli([`${FIX}/images/checker_64x64.png`, '--model', dir]);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /multi_modal_projector.linear_2.bias.*is missing/);
});

test('--help lists the options with examples; nothing half-written on failure', () => {
  const r = cli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--method/);
  assert.match(r.stdout, /Examples:/);
  const before = readdirSync(tmp).length;
  const f = cli([
    `${FIX}/images/checker_64x64.png`,
    '--model',
    `${FIX}/tiny-llava`,
    '--json',
    join(tmp, 'half.json'),
    '--view',
    'grid',
  ]);
  assert.notEqual(f.code, 0);
  assert.match(f.stderr, /--view grid: this model has only the base view/);
  assert.equal(existsSync(join(tmp, 'half.json')), false);
  assert.equal(readdirSync(tmp).length, before);
});

function cliAsync(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveP) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: join(tmp, 'hf') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolveP({ code: code ?? -1, stdout, stderr }));
  });
}

test('an image URL is fetched (size-limited); a 404 URL is a one-line network error', async () => {
  const png = readFileSync(`${FIX}/images/checker_64x64.png`);
  const server = createServer((req, res) => {
    if (req.url === '/checker.png') {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.byteLength });
      res.end(png);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const json = join(tmp, 'url.json');
    const ok = await cliAsync([`${base}/checker.png`, '--model', `${FIX}/tiny-llava`, '--json', json, '-q']);
    assert.equal(ok.code, 0, ok.stderr);
    const r = JSON.parse(readFileSync(json, 'utf8')) as { image: { name: string; width: number } };
    assert.equal(r.image.name, 'checker.png');
    assert.equal(r.image.width, 64);
    const missing = await cliAsync([`${base}/missing.png`, '--model', `${FIX}/tiny-llava`, '-q']);
    assert.equal(missing.code, 5);
    assert.match(
      lastLine(missing.stderr),
      /could not fetch http:\/\/127\.0\.0\.1:\d+\/missing\.png: HTTP 404/,
    );
  } finally {
    server.close();
  }
});

test('an ignored EXIF orientation gets a one-line notice; --exif-transpose rotates first', async () => {
  const rotated = join(tmp, 'rotated.jpg');
  await sharp(`${FIX}/images/portrait_45x90.jpg`).withMetadata({ orientation: 6 }).jpeg().toFile(rotated);
  const plain = cli([rotated, '--model', `${FIX}/tiny-llava`, '--json', join(tmp, 'exif-a.json'), '-q']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /orientation/i);
  const a = JSON.parse(readFileSync(join(tmp, 'exif-a.json'), 'utf8')) as {
    image: { width: number; height: number };
  };
  assert.deepEqual([a.image.width, a.image.height], [45, 90]); // as transformers sees it
  const t = cli([
    rotated,
    '--model',
    `${FIX}/tiny-llava`,
    '--json',
    join(tmp, 'exif-b.json'),
    '--exif-transpose',
    '-q',
  ]);
  assert.equal(t.code, 0, t.stderr);
  const b = JSON.parse(readFileSync(join(tmp, 'exif-b.json'), 'utf8')) as {
    image: { width: number; height: number };
  };
  assert.deepEqual([b.image.width, b.image.height], [90, 45]); // rotated 90° as a photo viewer shows it
});
