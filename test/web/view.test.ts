// The page's pure helpers (src/web/client/view.ts): view filtering, word display, colour ramp, bar lengths,
// arrow-key movement and label fitting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResultJson } from '../../src/types.js';
import {
  availableViews,
  barLengths,
  cellFontPx,
  displayWord,
  heatRgb,
  move,
  patchTokens,
  scoreRange,
  topScoreRange,
  unit,
  wordsThatFit,
} from '../../src/web/client/view.js';

function result(): ResultJson {
  const tokens: ResultJson['tokens'] = [];
  for (let r = 0; r < 2; r++)
    for (let c = 0; c < 3; c++)
      tokens.push({
        index: tokens.length,
        kind: 'patch',
        view: 'base',
        row: r,
        col: c,
        box: { x: c * 10, y: r * 10, w: 10, h: 10 },
        top: [
          { id: 1, text: `w${r}${c}`, score: 0.5 + r * 0.1 + c * 0.01 },
          { id: 2, text: '', score: 0.1 },
        ],
      });
  tokens.push({ index: 6, kind: 'newline', view: 'grid', row: 0, col: -1, box: null, top: [] });
  return {
    schema: 'imgtokens.result/1',
    model: { id: 'm', modelType: 'llava', vocabSize: 10, hidden: 2 },
    image: { width: 30, height: 20 },
    method: 'cosine',
    k: 2,
    exclude: [],
    views: [
      { name: 'base', rows: 2, cols: 3, start: 0, count: 6 },
      { name: 'grid', rows: 1, cols: 0, start: 6, count: 1 },
    ],
    tokens,
  };
}

test('patchTokens and availableViews skip tokens without a box', () => {
  const r = result();
  assert.equal(patchTokens(r, 'base').length, 6);
  assert.equal(patchTokens(r, 'grid').length, 0);
  assert.deepEqual(availableViews(r), ['base']);
});

test('displayWord makes empty, blank and control pieces visible', () => {
  assert.equal(displayWord('cat'), 'cat');
  assert.equal(displayWord(''), '∅');
  assert.equal(displayWord(' '), '␣');
  assert.equal(displayWord('\u0007'), '\\x07');
  assert.equal(displayWord('a\u0000b'), 'a\\x00b');
  assert.equal(displayWord('天空'), '天空');
  // The same rule as the PNG/HTML renderers (src/vocab/word.ts): newline and tab escaped, outer spaces dropped.
  assert.equal(displayWord('\n'), '\\n');
  assert.equal(displayWord(' the'), 'the');
});

test('colour ramp and normalisation', () => {
  assert.deepEqual(heatRgb(0), [0, 0, 4]);
  assert.deepEqual(heatRgb(1), [252, 253, 191]);
  assert.deepEqual(heatRgb(2), heatRgb(1));
  assert.equal(unit(5, 0, 10), 0.5);
  assert.equal(unit(5, 3, 3), 1);
  const tokens = patchTokens(result(), 'base');
  const r = topScoreRange(tokens);
  assert.ok(Math.abs(r.min - 0.5) < 1e-9 && Math.abs(r.max - 0.62) < 1e-9);
  const all = scoreRange(tokens);
  assert.equal(all.min, 0); // all positive: bars start at zero
  const bars = barLengths([0.62, 0.1], all);
  assert.ok(bars[0] === 1 && bars[1] > 0.1 && bars[1] < 0.2);
  assert.ok(
    scoreRange([
      {
        ...tokens[0],
        top: [
          { id: 1, text: 'a', score: -2 },
          { id: 2, text: 'b', score: -1 },
        ],
      },
    ]).min < -2,
  );
});

test('move follows the row/column grid and stops at the edges', () => {
  const t = patchTokens(result(), 'base');
  assert.equal(move(t, 0, 'right'), 1);
  assert.equal(move(t, 0, 'down'), 3);
  assert.equal(move(t, 0, 'left'), 0);
  assert.equal(move(t, 0, 'up'), 0);
  assert.equal(move(t, 5, 'right'), 5);
  assert.equal(move(t, 4, 'up'), 1);
  assert.equal(move(t, 2, 'end'), 5);
  assert.equal(move(t, 4, 'home'), 0);
  assert.equal(move(t, -1, 'right'), 0);
  assert.equal(move([], 0, 'right'), -1);
});

test('labels: font size and how many words fit', () => {
  assert.equal(cellFontPx(100, 100), 16);
  assert.equal(cellFontPx(10, 10), 7);
  assert.equal(wordsThatFit(100, 10, 3), 3);
  assert.equal(wordsThatFit(25, 10, 3), 2);
  assert.equal(wordsThatFit(5, 10, 3), 1);
});
