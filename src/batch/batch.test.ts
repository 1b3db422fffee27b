// Batch mode: input expansion (files, folders, globs), shard partition, resume (incl. a cut-off last line),
// bad images reported on their line, worker vs inline preparation, and the CLI, with test/fixtures/llava/tiny-llava.
import assert from 'node:assert/strict';
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BadInputError } from '../errors.js';
import { loadModel, type Model } from '../model.js';
import type { ResultJson } from '../types.js';
import {
  expandInputs,
  globToRegExp,
  inShard,
  parseShard,
  readExisting,
  runBatch,
  shardOf,
  type BatchLine,
} from './index.js';

const MODEL = 'test/fixtures/llava/tiny-llava';
const IMAGES = new URL('../../test/fixtures/llava/images/', import.meta.url).pathname;
const FIXTURES = ['checker_64x64.png', 'gradient_37x23.png', 'portrait_45x90.jpg', 'shapes_120x80.png'];

function readLines(path: string): BatchLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as BatchLine);
}

const isResult = (l: BatchLine): l is { image: string; result: ResultJson } => 'result' in l;

describe('batch inputs', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'imgtokens-batch-in-'));
    for (const f of ['a/x.png', 'a/b/y.jpg', 'a/b/c/z.JPEG', 'notes.txt', 'top.webp', 'a/skip.txt']) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), 'x');
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('expands a folder recursively to its image files, sorted', async () => {
    assert.deepEqual(await expandInputs([dir]), [
      join(dir, 'a/b/c/z.JPEG'),
      join(dir, 'a/b/y.jpg'),
      join(dir, 'a/x.png'),
      join(dir, 'top.webp'),
    ]);
  });

  it('expands globs with *, **, ? and {a,b}, and de-duplicates', async () => {
    assert.deepEqual(await expandInputs([`${dir}/**/*.png`]), [join(dir, 'a/x.png')]);
    assert.deepEqual(await expandInputs([`${dir}/a/*/*.{jpg,JPEG}`]), [join(dir, 'a/b/y.jpg')]);
    assert.deepEqual(await expandInputs([`${dir}/a/**/?.*`, join(dir, 'a/x.png')]), [
      join(dir, 'a/b/c/z.JPEG'),
      join(dir, 'a/b/y.jpg'),
      join(dir, 'a/x.png'),
    ]);
  });

  it('keeps an explicit file whatever its name, and rejects typos', async () => {
    assert.deepEqual(await expandInputs([join(dir, 'notes.txt')]), [join(dir, 'notes.txt')]);
    await assert.rejects(expandInputs([join(dir, 'nope.png')]), BadInputError);
    await assert.rejects(expandInputs([`${dir}/**/*.bmp`]), /matches no image files/);
    await assert.rejects(expandInputs([]), BadInputError);
  });

  it('globToRegExp anchors and keeps * within one folder', () => {
    assert.ok(globToRegExp('d/*.png').test('d/a.png'));
    assert.ok(!globToRegExp('d/*.png').test('d/e/a.png'));
    assert.ok(globToRegExp('d/**/a.png').test('d/a.png'));
    assert.ok(globToRegExp('d/**/a.png').test('d/e/f/a.png'));
    assert.ok(!globToRegExp('d/[!a]*.png').test('d/a.png'));
    assert.ok(globToRegExp('d/[!a]*.png').test('d/b.png'));
  });
});

describe('batch shards', () => {
  it('every path lands in exactly one shard, for any n', () => {
    const paths = Array.from({ length: 500 }, (_, i) => `data/img_${i}.jpg`);
    for (const n of [1, 2, 3, 7]) {
      const counts = new Map<string, number>();
      for (let i = 1; i <= n; i++) {
        for (const p of paths)
          if (inShard(p, { index: i, count: n })) counts.set(p, (counts.get(p) ?? 0) + 1);
      }
      assert.equal(counts.size, paths.length, `n=${n}: every path in some shard`);
      assert.ok(
        [...counts.values()].every((c) => c === 1),
        `n=${n}: no path in two shards`,
      );
      if (n > 1) {
        for (let i = 1; i <= n; i++) {
          const size = paths.filter((p) => shardOf(p, n) === i).length;
          assert.ok(size > paths.length / n / 2, `n=${n}: shard ${i} has ${size} paths (hash spreads them)`);
        }
      }
    }
  });

  it('parses i/n and rejects out-of-range shards', () => {
    assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
    for (const bad of ['0/3', '4/3', '1/0', '1', 'a/b', '-1/2'])
      assert.throws(() => parseShard(bad), BadInputError);
  });
});

describe('batch runner (tiny-llava)', () => {
  let model: Model;
  let dir: string;
  let images: string[];
  before(async () => {
    model = await loadModel(MODEL);
    dir = mkdtempSync(join(tmpdir(), 'imgtokens-batch-'));
    mkdirSync(join(dir, 'img'));
    for (const f of FIXTURES) copyFileSync(join(IMAGES, f), join(dir, 'img', f));
    writeFileSync(join(dir, 'img', 'broken.png'), 'this is not a PNG');
    images = await expandInputs([join(dir, 'img')]);
  });
  after(async () => {
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one line per image in input order; a bad image gets an error line and the batch goes on', async () => {
    const out = join(dir, 'all.jsonl');
    const s = await runBatch(model, { images, out, method: 'cosine', k: 3 });
    const lines = readLines(out);
    assert.deepEqual(
      lines.map((l) => l.image),
      images,
    );
    const bad = lines.find((l) => l.image.endsWith('broken.png'))!;
    assert.ok('error' in bad && /not a readable image/.test(bad.error), JSON.stringify(bad));
    const ok = lines.filter(isResult);
    assert.equal(ok.length, FIXTURES.length);
    assert.equal(
      images.indexOf(bad.image),
      0,
      'broken.png sorts first, so every result came after the error',
    );
    for (const l of ok) {
      assert.equal(l.result.schema, 'imgtokens.result/1');
      assert.equal(l.result.image.name, l.image);
      assert.equal(l.result.method, 'cosine');
      assert.ok(l.result.tokens.every((t) => t.top.length === 3));
    }
    assert.deepEqual(
      { written: s.written, failed: s.failed, skipped: s.skipped },
      { written: 5, failed: 1, skipped: 0 },
    );
    // Same features and words as a one-off analyze.
    const direct = await model.analyze(ok[1].image, { method: 'cosine', k: 3 });
    assert.deepEqual(
      direct.tokens.map((t) => t.top.map((w) => w.id)),
      ok[1].result.tokens.map((t) => t.top.map((w) => w.id)),
    );
  });

  it('prepares the same pixels in the worker thread and inline', async () => {
    const a = join(dir, 'worker.jsonl');
    const b = join(dir, 'inline.jsonl');
    await runBatch(model, { images, out: a, method: 'dot', k: 2, prepare: 'worker' });
    await runBatch(model, { images, out: b, method: 'dot', k: 2, prepare: 'inline' });
    assert.deepEqual(readLines(a), readLines(b));
  });

  it('resumes: skips images already in the output and redoes a cut-off last line', async () => {
    const out = join(dir, 'resume.jsonl');
    await runBatch(model, { images: images.slice(0, 2), out, method: 'l2', k: 1 });
    const full = readFileSync(out, 'utf8');
    // A crash mid-write: the second line is only half there.
    const firstEnd = full.indexOf('\n') + 1;
    writeFileSync(out, full.slice(0, firstEnd + Math.floor((full.length - firstEnd) / 2)));
    const s = await runBatch(model, { images, out, method: 'l2', k: 1 });
    assert.equal(s.skipped, 1);
    assert.equal(s.written, images.length - 1);
    assert.ok(s.truncatedBytes > 0);
    const lines = readLines(out);
    assert.deepEqual(
      lines.map((l) => l.image),
      images,
      'each image exactly once, in order',
    );
    const again = await runBatch(model, { images, out, method: 'l2', k: 1 });
    assert.deepEqual(
      { skipped: again.skipped, written: again.written },
      { skipped: images.length, written: 0 },
    );
    assert.equal(readLines(out).length, images.length);
  });

  it('refuses to resume into results of another method or k', async () => {
    const out = join(dir, 'mixed.jsonl');
    await runBatch(model, { images: images.slice(1, 2), out, method: 'dot', k: 1 });
    await assert.rejects(runBatch(model, { images, out, method: 'dot', k: 2 }), /dot k=1 result/);
    appendFileSync(out, 'garbage\n');
    await assert.rejects(readExisting(out, { method: 'dot', k: 1 }), /line 2 is not JSON/);
  });

  it('shards split the images between runs, each exactly once', async () => {
    const n = 3;
    const seen: string[] = [];
    for (let i = 1; i <= n; i++) {
      const out = join(dir, `shard-${i}.jsonl`);
      const s = await runBatch(model, { images, out, method: 'dot', k: 1, shard: { index: i, count: n } });
      assert.equal(s.given, images.length);
      const lines = readLines(out);
      assert.equal(lines.length, s.inShard);
      seen.push(...lines.map((l) => l.image));
    }
    assert.deepEqual([...seen].sort(), images);
  });

  it('the CLI expands a glob, shards and writes the same lines', async () => {
    const { runBatch: cli } = await import('../cli/batch.js');
    const lib = join(dir, 'cli-lib.jsonl');
    await runBatch(model, { images, out: lib, method: 'cosine', k: 2, shard: parseShard('1/2') });
    const out = join(dir, 'cli.jsonl');
    const code = await cli([
      `${dir}/img/*.{png,jpg}`,
      '--out',
      out,
      '-m',
      MODEL,
      '--method',
      'cosine',
      '-k',
      '2',
      '--shard',
      '1/2',
      '-q',
    ]);
    assert.equal(code, 0);
    assert.deepEqual(readLines(out), readLines(lib));
    await assert.rejects(cli([`${dir}/img`, '-m', MODEL]), /--out is required/);
    await assert.rejects(cli([`${dir}/img`, '--out', out, '--shard', '3/2']), /--shard/);
  });
});
