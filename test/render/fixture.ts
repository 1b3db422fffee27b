/**
 * A hand-built ResultJson for the renderer tests: a LLaVA-NeXT-like layout on a 320×240 image, with a 6×6 base view
 * (the whole image square-resized, so boxes are 53.3×40) followed by a high-resolution grid of 9 kept rows × 12
 * columns (26.7 px squares) with one newline token (box null) after each row. Words include CJK ('天' with a gloss),
 * HTML-dangerous text ('<b>&', a closing script tag), byte pieces ('\uFFFD', '<0xE5>', a BEL control char), a lone
 * space and an empty word (nothing may be drawn for it).
 */

import type { ResultJson, RgbImage, WordScore } from '../../src/types.js';

export const W = 320;
export const H = 240;
export const K = 5;

/** Words placed at fixed base-view cells, so tests can find them. */
export const SPECIAL: Record<string, string> = {
  '0,0': '天',
  '0,1': '<b>&',
  '0,2': '\uFFFD',
  '0,3': '<0xE5>',
  '0,4': '\u0007',
  '1,1': '',
  '1,2': ' ',
  '1,3': '</script><script>alert(1)</script>',
  '1,4': 'a"b\'c',
  '2,2': 'ネコ',
  '2,3': '한국',
};

const COMMON = [
  'sky',
  'the',
  'cat',
  'grass',
  'café',
  'straße',
  '中国',
  'über',
  'sun',
  'tree',
  'photograph',
  'ing',
];

/** A procedural scene: light sky gradient on top, dark ground below, a yellow sun top-right. */
export function makeImage(): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      let r: number, g: number, b: number;
      if (y < H * 0.55) {
        const t = y / (H * 0.55);
        r = 150 + 80 * t;
        g = 195 + 45 * t;
        b = 245 - 5 * t;
      } else {
        const t = (y - H * 0.55) / (H * 0.45);
        r = 40 - 25 * t + ((x * 7) % 11);
        g = 80 - 45 * t + ((x * 5) % 13);
        b = 30 - 15 * t;
      }
      const dx = x - 250;
      const dy = y - 55;
      if (dx * dx + dy * dy < 28 * 28) {
        r = 255;
        g = 215;
        b = 60;
      }
      data[o] = r;
      data[o + 1] = g;
      data[o + 2] = b;
    }
  }
  return { width: W, height: H, data };
}

function topFor(seed: number, first: string, gloss?: string): WordScore[] {
  const top: WordScore[] = [];
  for (let j = 0; j < K; j++) {
    const text = j === 0 ? first : COMMON[(seed * 7 + j * 3) % COMMON.length];
    const w: WordScore = {
      id: 3 + ((seed * 31 + j * 17) % 500),
      text,
      score: 0.9 - 0.01 * (seed % 40) - 0.07 * j,
    };
    if (j === 0 && gloss) w.gloss = gloss;
    top.push(w);
  }
  return top;
}

export function makeResult(): ResultJson {
  const tokens: ResultJson['tokens'] = [];
  const baseRows = 6;
  const baseCols = 6;
  for (let r = 0; r < baseRows; r++) {
    for (let c = 0; c < baseCols; c++) {
      const i = tokens.length;
      const special = SPECIAL[`${r},${c}`];
      const first = special ?? COMMON[i % COMMON.length];
      tokens.push({
        index: i,
        kind: 'patch',
        view: 'base',
        row: r,
        col: c,
        box: { x: (c * W) / baseCols, y: (r * H) / baseRows, w: W / baseCols, h: H / baseRows },
        top: topFor(i, first, first === '天' ? 'sky' : undefined),
      });
    }
  }
  const gridStart = tokens.length;
  const gRows = 9;
  const gCols = 12;
  for (let r = 0; r < gRows; r++) {
    for (let c = 0; c < gCols; c++) {
      const i = tokens.length;
      tokens.push({
        index: i,
        kind: 'patch',
        view: 'grid',
        row: r,
        col: c,
        box: { x: (c * W) / gCols, y: (r * H) / gRows, w: W / gCols, h: H / gRows },
        top: topFor(i, r === 0 && c === 0 ? '天' : COMMON[(i * 5) % COMMON.length]),
      });
    }
    const i = tokens.length;
    tokens.push({
      index: i,
      kind: 'newline',
      view: 'grid',
      row: r,
      col: gCols,
      box: null,
      top: topFor(i, '\n'),
    });
  }
  return {
    schema: 'imgtokens.result/1',
    model: { id: 'test/tiny-llava-next', modelType: 'llava_next', vocabSize: 512, hidden: 48 },
    image: { width: W, height: H, name: 'scene <1>.png' },
    method: 'cosine',
    k: K,
    exclude: [],
    views: [
      { name: 'base', rows: baseRows, cols: baseCols, start: 0, count: gridStart },
      { name: 'grid', rows: gRows, cols: gCols, start: gridStart, count: tokens.length - gridStart },
    ],
    tokens,
  };
}

/** The same result with every word's text replaced by '' (renders as the bare image). */
export function blankResult(result: ResultJson): ResultJson {
  return {
    ...result,
    tokens: result.tokens.map((t) => ({ ...t, top: t.top.map((w) => ({ ...w, text: '' })) })),
  };
}
