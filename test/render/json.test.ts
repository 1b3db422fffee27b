// JSON outputs: the imgtokens.result/1 schema (round trip and validator) and the --save-words grid.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BadInputError } from '../../src/errors.js';
import {
  parseResult,
  serializeResult,
  serializeWords,
  validateResult,
  validateWordsGrid,
  wordsGrid,
} from '../../src/render/json.js';
import { writeFileAtomic } from '../../src/render/write.js';
import type { ResultJson } from '../../src/types.js';
import { makeResult } from './fixture.js';

// `any`: the edits below deliberately break the typed shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

/** A deep copy of the fixture with `edit` applied. */
function broken(edit: (r: Loose) => void): unknown {
  const r = structuredClone(makeResult()) as unknown as Loose;
  edit(r);
  return r;
}

describe('result JSON', () => {
  it('the fixture is valid, and survives serialise → file → parse unchanged', async () => {
    const result = makeResult();
    assert.deepEqual(validateResult(result), []);
    const text = serializeResult(result);
    const lines = new Set(text.split('\n').map((l) => l.trim().replace(/,$/, '')));
    assert.ok(
      result.tokens.every((t) => lines.has(JSON.stringify(t))),
      'one token per line',
    );
    const file = join(mkdtempSync(join(tmpdir(), 'imgtokens-json-')), 'result.json');
    await writeFileAtomic(file, text);
    assert.deepEqual(parseResult(readFileSync(file, 'utf8')), result);
  });

  it('specials (text tokens among the image tokens) are part of a valid result', () => {
    const r = structuredClone(makeResult());
    r.specials = [
      { text: '<img>', before: 0, position: 0 },
      { text: '</img>', before: r.tokens.length, position: r.tokens.length + 1 },
    ];
    assert.deepEqual(validateResult(r), []);
    assert.deepEqual(parseResult(serializeResult(r)).specials, r.specials);
  });

  const cases: Array<[string, (r: Loose) => void, RegExp]> = [
    ['schema', (r) => (r.schema = 'imgtokens.result/2'), /^schema: expected "imgtokens.result\/1"/],
    ['method', (r) => (r.method = 'euclid'), /^method: expected one of cosine/],
    [
      'NaN score',
      (r) => (r.tokens[3].top[1].score = null),
      /^tokens\[3\]\.top\[1\]\.score: expected a finite number/,
    ],
    ['unsorted', (r) => (r.tokens[2].top[1].score = 5), /^tokens\[2\]\.top\[1\]\.score: expected best first/],
    ['patch without box', (r) => (r.tokens[0].box = null), /^tokens\[0\]\.box: expected a box/],
    [
      'newline with box',
      (r) => (r.tokens[48].box = { x: 0, y: 0, w: 1, h: 1 }),
      /^tokens\[48\]\.box: expected null/,
    ],
    [
      'box outside',
      (r) => (r.tokens[1].box.x = 300),
      /^tokens\[1\]\.box: expected a box inside the 320×240 image/,
    ],
    ['index', (r) => (r.tokens[5].index = 6), /^tokens\[5\]\.index: expected 5/],
    ['unknown view', (r) => (r.tokens[7].view = 'tile'), /^tokens\[7\]\.view: expected a view in views/],
    [
      'too many words',
      (r) => r.tokens[0].top.push({ id: 1, text: 'x', score: -9 }),
      /^tokens\[0\]\.top: expected at most k = 5/,
    ],
    [
      'id out of vocab',
      (r) => (r.tokens[0].top[0].id = 512),
      /^tokens\[0\]\.top\[0\]\.id: expected an integer in \[0, 512\)/,
    ],
    ['view range', (r) => (r.views[1].count = 999), /^views\[1\]: expected start \+ count <= 153 tokens/],
    [
      'special kind',
      (r) => (r.tokens[2].kind = 'special'),
      /^tokens\[2\]\.kind: expected patch, cls or newline/,
    ],
    [
      'special past the run',
      (r) => (r.specials = [{ text: '<img>', before: 999, position: 999 }]),
      /^specials\[0\]\.before: expected an integer in \[0, 153\]/,
    ],
    [
      'special position',
      (r) =>
        (r.specials = [
          { text: '<img>', before: 0, position: 0 },
          { text: '</img>', before: 153, position: 153 },
        ]),
      /^specials\[1\]\.position: expected before \+ 1/,
    ],
    ['special text', (r) => (r.specials = [{ text: '', before: 0, position: 0 }]), /^specials\[0\]\.text/],
  ];
  for (const [name, edit, re] of cases) {
    it(`reports ${name} with its path`, () => {
      const problems = validateResult(broken(edit));
      assert.ok(
        problems.some((p) => re.test(p)),
        `got: ${problems.join(' | ')}`,
      );
    });
  }

  it('parseResult and serializeResult refuse invalid input with BadInputError', () => {
    assert.throws(() => parseResult('{not json'), BadInputError);
    assert.throws(() => parseResult(JSON.stringify(broken((r) => (r.k = 0)))), /k: expected an integer >= 1/);
    assert.throws(
      () => serializeResult(broken((r) => (r.model.vocabSize = -1)) as ResultJson),
      BadInputError,
    );
    assert.deepEqual(validateResult(null), ['$: expected an object, got null']);
  });
});

describe('--save-words', () => {
  const result = makeResult();
  it('is the base view as rows of strings, glosses appended, empty words kept empty', () => {
    const grid = wordsGrid(result);
    assert.equal(grid.length, 6);
    assert.ok(grid.every((row) => row.length === 6));
    assert.equal(grid[0][0], '天 (sky)');
    assert.equal(grid[0][1], '<b>&');
    assert.equal(grid[0][4], '\u0007');
    assert.equal(grid[1][1], '');
    assert.equal(grid[1][2], ' ');
    const text = serializeWords(grid);
    assert.deepEqual(validateWordsGrid(JSON.parse(text)), []);
    assert.deepEqual(JSON.parse(text), grid);
  });

  it('joins several words with newlines, and can write the grid view (newline tokens excluded)', () => {
    const two = wordsGrid(result, { words: 2, glosses: false });
    assert.equal(two[0][0], `天\n${result.tokens[0].top[1].text}`);
    const grid = wordsGrid(result, { view: 'grid' });
    assert.deepEqual([grid.length, grid[0].length], [9, 12]);
    assert.ok(grid.flat().every((s) => s !== '\n'));
  });

  it('the validator catches malformed grids', () => {
    assert.match(validateWordsGrid({})[0], /expected an array of rows/);
    assert.match(validateWordsGrid([['a'], ['b', 'c']])[0], /\[1\]: expected 1 columns like row 0, got 2/);
    assert.match(validateWordsGrid([['a', 3]])[0], /\[0\]\[1\]: expected a string, got 3/);
    assert.deepEqual(validateWordsGrid([]), ['$: expected at least one row']);
  });
});
