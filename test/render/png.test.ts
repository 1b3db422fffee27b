// PNG renderer: decode the output with sharp and check where text pixels land. Text pixels are found by diffing
// against a render of the same result with every word blanked (the bare scaled image), so image resampling does not
// matter.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { BadInputError } from '../../src/errors.js';
import { renderPng } from '../../src/render/png.js';
import { meanLuminance, prefersDarkText } from '../../src/render/text.js';
import type { Box, ResultJson } from '../../src/types.js';
import { blankResult, H, makeImage, makeResult, W } from './fixture.js';

interface Raw {
  width: number;
  height: number;
  data: Buffer; // [height, width, 3]
}

async function decode(png: Buffer): Promise<Raw> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** Pixels whose colour differs (any channel by more than 24) between two renders of the same size. */
function diffMask(a: Raw, b: Raw): Uint8Array {
  assert.equal(a.width, b.width);
  assert.equal(a.height, b.height);
  const m = new Uint8Array(a.width * a.height);
  for (let i = 0; i < m.length; i++) {
    const o = i * 3;
    const d = Math.max(
      Math.abs(a.data[o] - b.data[o]),
      Math.abs(a.data[o + 1] - b.data[o + 1]),
      Math.abs(a.data[o + 2] - b.data[o + 2]),
    );
    m[i] = d > 24 ? 1 : 0;
  }
  return m;
}

/** Pixels of `box` (inset by `inset` px) in `mask`, as indices. */
function inBox(mask: Uint8Array, width: number, box: Box, inset: number): number[] {
  const out: number[] = [];
  for (let y = Math.ceil(box.y + inset); y < Math.floor(box.y + box.h - inset); y++) {
    for (let x = Math.ceil(box.x + inset); x < Math.floor(box.x + box.w - inset); x++) {
      if (mask[y * width + x]) out.push(y * width + x);
    }
  }
  return out;
}

const lum = (r: Raw, i: number): number =>
  0.2126 * r.data[i * 3] + 0.7152 * r.data[i * 3 + 1] + 0.0722 * r.data[i * 3 + 2];

async function textPixels(result: ResultJson, view: 'base' | 'grid') {
  const image = makeImage();
  const drawn = await decode(await renderPng(result, image, { view, size: W }));
  const bare = await decode(await renderPng(blankResult(result), image, { view, size: W }));
  return { drawn, mask: diffMask(drawn, bare) };
}

describe('renderPng', () => {
  const result = makeResult();
  const image = makeImage();

  it('draws each word inside its own rectangle, nothing for empty words, in a contrasting colour', async () => {
    const { drawn, mask } = await textPixels(result, 'base');
    assert.equal(drawn.width, W);
    assert.equal(drawn.height, H);
    mkdirSync('test-artifacts', { recursive: true });
    writeFileSync(
      'test-artifacts/render-png-base.png',
      await renderPng(result, image, { view: 'base', size: 800 }),
    );

    const owner = new Int32Array(W * H).fill(-1);
    for (const t of result.tokens.filter((x) => x.view === 'base' && x.box)) {
      const box = t.box as Box;
      const px = inBox(mask, W, box, 1);
      if (t.top[0].text === '') {
        assert.equal(px.length, 0, `token ${t.index} has no word but ${px.length} text pixels`);
        continue;
      }
      assert.ok(px.length > 30, `token ${t.index} ('${t.top[0].text}') has only ${px.length} text pixels`);
      // Fill colour: black text has pixels darker than 60, white text pixels brighter than 200.
      const dark = prefersDarkText(meanLuminance(image, box));
      const fill = px.filter((i) => (dark ? lum(drawn, i) < 90 : lum(drawn, i) > 180)).length;
      assert.ok(
        fill >= 3 && fill > px.length * 0.05,
        `token ${t.index}: ${fill}/${px.length} pixels in the ${dark ? 'dark' : 'light'} fill`,
      );
      for (const i of inBox(mask, W, box, -1)) owner[i] = t.index;
    }
    // Every text pixel lies in (or on the 1 px edge of) the rectangle of a token that has a word.
    let stray = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] && owner[i] < 0) stray++;
    assert.equal(stray, 0, `${stray} text pixels outside the rectangles of tokens with words`);
  });

  it('uses black text on the light sky and white text on the dark ground', async () => {
    const sky = result.tokens[0].box as Box; // row 0
    const ground = result.tokens[5 * 6].box as Box; // row 5
    assert.equal(prefersDarkText(meanLuminance(image, sky)), true);
    assert.equal(prefersDarkText(meanLuminance(image, ground)), false);
  });

  it('draws CJK and Hangul with the bundled fonts (not missing-glyph boxes)', async () => {
    const withText = (text: string): ResultJson => {
      const r = blankResult(result);
      r.tokens[0].top[0].text = text;
      return r;
    };
    const box = result.tokens[0].box as Box;
    // The glyph strokes: text pixels in the dark fill (the sky box gets black text with a white outline).
    const shape = async (text: string): Promise<number[]> => {
      const { drawn, mask } = await textPixels(withText(text), 'base');
      return inBox(mask, W, box, 1).filter((i) => lum(drawn, i) < 90);
    };
    // Missing glyphs all draw the same box, so distinct words would give identical masks.
    const xor = (a: number[], b: number[]): number => {
      const sa = new Set(a);
      const sb = new Set(b);
      return a.filter((i) => !sb.has(i)).length + b.filter((i) => !sa.has(i)).length;
    };
    const tofu = await shape('\ue000\ue001'); // private-use code points: no font has them
    const masks = new Map<string, number[]>();
    for (const word of ['天空', '中国', '한국', '대한']) masks.set(word, await shape(word));
    for (const [word, px] of masks) {
      assert.ok(px.length > 30, `${word}: ${px.length} pixels`);
      assert.ok(
        xor(px, tofu) > 0.3 * Math.max(px.length, tofu.length),
        `${word} looks like missing-glyph boxes`,
      );
    }
    const [a, b, c, d] = [...masks.values()];
    assert.ok(xor(a, b) > 0.3 * Math.max(a.length, b.length), '天空 and 中国 render alike');
    assert.ok(xor(c, d) > 0.3 * Math.max(c.length, d.length), '한국 and 대한 render alike');
  });

  it('draws the grid view, skipping newline tokens', async () => {
    const { mask } = await textPixels(result, 'grid');
    const grid = result.tokens.filter((t) => t.view === 'grid');
    assert.ok(grid.some((t) => t.kind === 'newline' && t.box === null));
    for (const t of grid.filter((x) => x.box)) {
      assert.ok(inBox(mask, W, t.box as Box, 1).length > 10, `grid token ${t.index} has no text`);
    }
  });

  it("'all' stacks the two views for a landscape image; default size scales the longest side to 1000", async () => {
    const all = await decode(await renderPng(result, image, { view: 'all', size: W }));
    assert.equal(all.width, W);
    assert.equal(all.height, 2 * (H + 34) + 12);
    writeFileSync(
      'test-artifacts/render-png-all.png',
      await renderPng(result, image, { view: 'all', size: 700 }),
    );
    const big = await decode(await renderPng(result, image));
    assert.deepEqual([big.width, big.height], [1000, 750]);
  });

  it('rejects a mismatched image, an absent view and a bad size with BadInputError', async () => {
    await assert.rejects(
      renderPng(result, { width: 10, height: 10, data: new Uint8Array(300) }),
      BadInputError,
    );
    const baseOnly: ResultJson = { ...result, views: [result.views[0]], tokens: result.tokens.slice(0, 36) };
    await assert.rejects(renderPng(baseOnly, image, { view: 'grid' }), /view 'grid' is not in this result/);
    await assert.rejects(renderPng(result, image, { size: 0 }), BadInputError);
  });
});
