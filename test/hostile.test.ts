/**
 * Issue 14's library and CLI holes, one test each: the input, the error kind and exit code, the message, and
 * that nothing was written. Models are copies of the tiny fixtures with one thing broken.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkDistinctOutputs } from '../src/cli/analyze.js';
import { EXIT_CODES, ImgTokensError } from '../src/errors.js';
import { decodeImage } from '../src/image/decode.js';
import { loadModel, type Model } from '../src/model.js';
import { parseHeader, parseHeaderLength } from '../src/source/safetensors.js';
import { bombPng, form, blob, startServer } from './server/helpers.js';

const FIX = 'test/fixtures/llava';
const IMG = `${FIX}/images/shapes_120x80.png`;
const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-hostile-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let copies = 0;
/** A copy of a fixture model (without its expected/ folder) with `edit` applied. */
function brokenModel(fixture: 'tiny-llava' | 'tiny-llava-next', edit: (dir: string) => void): string {
  const dir = join(tmp, `m${copies++}`);
  cpSync(join(FIX, fixture), dir, { recursive: true, filter: (p) => !p.includes('/expected') });
  edit(dir);
  return dir;
}
const editJson = (file: string, f: (j: Record<string, unknown>) => void): void => {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  f(j);
  writeFileSync(file, JSON.stringify(j));
};

function cli(args: string[]): { code: number; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: join(tmp, 'hf') },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stderr: r.stderr };
}
const errorLine = (s: string): string =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('imgtokens: '))
    .pop() ?? '';

/** Asserts `p` rejects with an ImgTokensError of `kind` whose message matches `re`; returns the error. */
async function rejectsKind(p: Promise<unknown>, kind: string, re: RegExp): Promise<ImgTokensError> {
  let err: unknown;
  await p.then(
    () => assert.fail(`expected a ${kind} error`),
    (e: unknown) => (err = e),
  );
  assert.ok(err instanceof ImgTokensError, String(err));
  assert.equal(err.kind, kind, err.message);
  assert.match(err.message, re);
  return err;
}

describe('(11) library misuse', () => {
  let a: Model;
  let b: Model;
  before(async () => {
    a = await loadModel(`${FIX}/tiny-llava`);
    b = await loadModel(`${FIX}/tiny-llava-next`);
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  test('exclude is validated; features from another model are refused', async () => {
    const f = await a.encode(IMG);
    await rejectsKind(
      a.lens(f, { method: 'cosine', k: 1, exclude: ['bogus' as never] }),
      'bad-input',
      /^exclude: unknown kind "bogus"; use special, bytes$/,
    );
    await rejectsKind(
      b.lens(f, { method: 'cosine', k: 1 }),
      'bad-input',
      /^these features come from test\/fixtures\/llava\/tiny-llava, not test\/fixtures\/llava\/tiny-llava-next$/,
    );
    const handmade = { ...f, hidden: 7 };
    await rejectsKind(a.lens(handmade, { method: 'cosine', k: 1 }), 'bad-input', /needs \[tokens, 48\]/);
  });

  test('close() twice is fine; encode and lens after close throw ClosedError (exit 13)', async () => {
    const m = await loadModel(`${FIX}/tiny-llava`);
    const f = await m.encode(IMG);
    await m.close();
    await m.close();
    const e = await rejectsKind(m.encode(IMG), 'closed', /tiny-llava: prepare\(\) called after close\(\)$/);
    assert.equal(EXIT_CODES[e.kind], 13);
    await rejectsKind(m.lens(f, { method: 'logit', k: 1 }), 'closed', /lens\(\) called after close\(\)$/);
  });
});

describe('(6) non-finite features are caught at their stage, before any output', () => {
  test('CLI: image_std [0,0,0] exits 11 naming the preprocess stage; no file is written', () => {
    const dir = brokenModel('tiny-llava', (d) =>
      editJson(join(d, 'preprocessor_config.json'), (j) => (j.image_std = [0, 0, 0])),
    );
    const outs = ['o.json', 'o.png', 'o.html'].map((f) => join(tmp, `nan-${f}`));
    const r = cli([
      IMG,
      '--model',
      dir,
      '--json',
      outs[0],
      '--save-img',
      outs[1],
      '--save-html',
      outs[2],
      '-q',
    ]);
    assert.equal(r.code, 11, r.stderr);
    assert.equal(
      errorLine(r.stderr),
      `imgtokens: ${dir}: pixel_values holds -Infinity (at element 0) after the preprocess stage`,
    );
    assert.match(r.stderr, /hint: likely cause: image_mean \/ image_std in preprocessor_config\.json/);
    for (const o of outs) assert.equal(existsSync(o), false, o);
  });

  test('layer_norm_eps -1 and NaN weights stop at the vision stage', async () => {
    const eps = brokenModel('tiny-llava', (d) =>
      editJson(
        join(d, 'config.json'),
        (j) => ((j.vision_config as Record<string, unknown>).layer_norm_eps = -1),
      ),
    );
    const m1 = await loadModel(eps);
    try {
      const e = await rejectsKind(
        m1.encode(IMG),
        'non-finite',
        /crop_features\) holds NaN .* after the vision stage$/,
      );
      assert.match(e.hint ?? '', /layer_norm_eps <= 0/);
    } finally {
      await m1.close();
    }
    const nanWeights = brokenModel('tiny-llava', (d) => {
      const file = join(d, 'model.safetensors');
      const bytes = readFileSync(file);
      const n = parseHeaderLength(bytes.subarray(0, 8), file, bytes.length);
      const h = parseHeader(bytes.subarray(8, 8 + n), file, bytes.length);
      const t = h.tensors.find((x) => x.name.includes('patch_embedding.weight'))!;
      bytes.fill(0xff, t.begin, t.end); // all-ones is NaN in F32, F16 and BF16
      writeFileSync(file, bytes);
    });
    const m2 = await loadModel(nanWeights);
    try {
      await rejectsKind(m2.encode(IMG), 'non-finite', /after the vision stage$/);
    } finally {
      await m2.close();
    }
  });

  test('server: a NaN model answers 422 with the stage, never score:null', async () => {
    const dir = brokenModel('tiny-llava', (d) =>
      editJson(join(d, 'preprocessor_config.json'), (j) => (j.image_std = [0, 0, 0])),
    );
    const model = await loadModel(dir);
    const s = await startServer({ model });
    try {
      const res = await fetch(`${s.url}api/analyze`, {
        method: 'POST',
        body: form({ image: blob(new Uint8Array(readFileSync(IMG))) }),
      });
      assert.equal(res.status, 422);
      const text = await res.text();
      assert.match(text, /after the preprocess stage/);
      assert.doesNotMatch(text, /"score"/);
    } finally {
      await s.stop();
      await model.close();
    }
  });
});

describe('(7) (8) (12) unclear errors and hostile model folders', () => {
  test('CLI: config.json without model_type exits 4 with the supported list', () => {
    const dir = brokenModel('tiny-llava', (d) =>
      editJson(join(d, 'config.json'), (j) => delete j.model_type),
    );
    const r = cli([IMG, '--model', dir, '-q']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(errorLine(r.stderr), `imgtokens: ${dir}/config.json has no "model_type"`);
    assert.match(r.stderr, /hint: imgtokens picks the architecture by it; supported: llava, llava_next/);
  });

  test('shortest_edge 100000 and pinpoints [[100000,100000]] are too-large at load (exit 2)', async () => {
    const edge = brokenModel('tiny-llava', (d) =>
      editJson(join(d, 'preprocessor_config.json'), (j) => (j.size = { shortest_edge: 100_000 })),
    );
    const e = await rejectsKind(
      loadModel(edge),
      'too-large',
      /preprocessor_config\.json: size\.shortest_edge = 100000 is over the limit of 8192$/,
    );
    assert.equal(EXIT_CODES[e.kind], 2);
    const pins = brokenModel('tiny-llava-next', (d) =>
      editJson(join(d, 'config.json'), (j) => (j.image_grid_pinpoints = [[100_000, 100_000]])),
    );
    await rejectsKind(loadModel(pins), 'too-large', /config\.json: image_grid_pinpoints = \[100000,100000\]/);
  });

  test('pinpoints [[2000,2000]] (3969 crops at 32 px) are refused at load, not after seconds and gigabytes', async () => {
    const dir = brokenModel('tiny-llava-next', (d) =>
      editJson(join(d, 'preprocessor_config.json'), (j) => (j.image_grid_pinpoints = [[2000, 2000]])),
    );
    await rejectsKind(
      loadModel(dir),
      'too-large',
      /: image_grid_pinpoints entry \[2000, 2000\] cuts 63x63 = 3969 crops of 32 px, over the limit of 100$/,
    );
  });

  test('a shard or the index that is a directory is a checkpoint error (exit 4), not EISDIR', async () => {
    const single = brokenModel('tiny-llava', (d) => {
      unlinkSync(join(d, 'model.safetensors'));
      mkdirSync(join(d, 'model.safetensors'));
    });
    const e = await rejectsKind(loadModel(single), 'bad-checkpoint', /model\.safetensors is a directory/);
    assert.equal(EXIT_CODES[e.kind], 4);
    const index = brokenModel('tiny-llava-next', (d) => {
      unlinkSync(join(d, 'model.safetensors.index.json'));
      mkdirSync(join(d, 'model.safetensors.index.json'));
    });
    await rejectsKind(loadModel(index), 'bad-checkpoint', /model\.safetensors\.index\.json is a directory/);
    const shard = brokenModel('tiny-llava-next', (d) => {
      unlinkSync(join(d, 'model-00002-of-00002.safetensors'));
      mkdirSync(join(d, 'model-00002-of-00002.safetensors'));
    });
    await rejectsKind(loadModel(shard), 'bad-checkpoint', /model-00002-of-00002\.safetensors is a directory/);
  });

  test('a FIFO config or shard fails at once; /dev/zero as tokenizer.json is refused', async (t) => {
    const fifo = (path: string): boolean => {
      unlinkSync(path);
      return spawnSync('mkfifo', [path]).status === 0;
    };
    let made = true;
    const cfg = brokenModel('tiny-llava', (d) => (made &&= fifo(join(d, 'config.json'))));
    const shard = brokenModel('tiny-llava', (d) => (made &&= fifo(join(d, 'model.safetensors'))));
    if (!made) return t.skip('mkfifo is not available');
    await rejectsKind(loadModel(cfg), 'bad-checkpoint', /config\.json is a FIFO; a regular file is needed$/);
    await rejectsKind(loadModel(shard), 'bad-checkpoint', /model\.safetensors is not a regular file/);
    const zero = brokenModel('tiny-llava', (d) => {
      unlinkSync(join(d, 'tokenizer.json'));
      symlinkSync('/dev/zero', join(d, 'tokenizer.json'));
    });
    await rejectsKind(loadModel(zero), 'bad-checkpoint', /tokenizer\.json is not a regular file/);
  });

  test('a duplicate key in a safetensors header is refused', () => {
    const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    for (const header of [`{"w":${entry},"w":${entry}}`, `{"w":${entry},"\\u0077":${entry}}`]) {
      const json = new TextEncoder().encode(header);
      assert.throws(() => parseHeader(json, 'x.safetensors', 8 + json.length + 4), {
        kind: 'bad-checkpoint',
        message: 'x.safetensors: safetensors header lists "w" twice',
      });
    }
    // Keys nested inside an entry or __metadata__ are not top-level duplicates.
    const ok = new TextEncoder().encode(`{"__metadata__":{"a":"w"},"w":${entry}}`);
    assert.equal(parseHeader(ok, 'x', 8 + ok.length + 4).tensors.length, 1);
  });
});

describe('(3) (7) (9) CLI images and outputs', () => {
  test('a 1x80M PNG and a 400-megapixel PNG are too large from the header', async () => {
    const strip = join(tmp, 'strip.png');
    writeFileSync(strip, bombPng(1, 80_000_000));
    const r = cli([strip, '--model', `${FIX}/tiny-llava`, '--json', join(tmp, 'strip.json'), '-q']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      errorLine(r.stderr),
      `imgtokens: strip.png: 1x80000000 has a side longer than the limit of 32768 pixels`,
    );
    assert.equal(existsSync(join(tmp, 'strip.json')), false);
    await rejectsKind(
      decodeImage(bombPng(20_000, 20_000), { name: 'big.png' }),
      'too-large',
      /^big\.png: 20000x20000 = 400000000 pixels exceeds the limit of 89478485 pixels$/,
    );
    await rejectsKind(
      decodeImage(bombPng(10, 5000)),
      'too-large',
      /aspect ratio of 500:1, over the limit of 200:1/,
    );
  });

  test('one path for two outputs, an output over the input, or an empty path: exit 2, nothing written', async () => {
    const out = join(tmp, 'same.out');
    const r = cli([IMG, '--model', `${FIX}/tiny-llava`, '--json', out, '--save-html', out, '-q']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      errorLine(r.stderr),
      `imgtokens: --save-html and --json both write ${out}; one file would be lost`,
    );
    assert.equal(existsSync(out), false);
    const input = join(tmp, 'input.png');
    cpSync(IMG, input);
    const before = readFileSync(input);
    await rejectsKind(
      checkDistinctOutputs([['--save-img', input]], input),
      'bad-input',
      /--save-img .*input\.png is the input image; it would be overwritten/,
    );
    await rejectsKind(
      checkDistinctOutputs([['--save-img', join(tmp, '.', 'input.png')]], input),
      'bad-input',
      /is the input image/,
    );
    await rejectsKind(
      checkDistinctOutputs([['--save-img', '']], input),
      'bad-input',
      /^--save-img was given an empty path$/,
    );
    assert.deepEqual(readFileSync(input), before);
  });

  test('serve on a port in use exits 12 with its own message', async () => {
    const holder = createNetServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as { port: number }).port;
    try {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'serve',
          '--port',
          String(port),
          '--model',
          join(tmp, 'none'),
          '-q',
        ],
        { env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: join(tmp, 'hf') } },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
      assert.equal(code, 12, stderr);
      assert.equal(errorLine(stderr), `imgtokens: port ${port} on 127.0.0.1 is already in use`);
    } finally {
      holder.close();
    }
  });
});
