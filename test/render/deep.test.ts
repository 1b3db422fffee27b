// The deep lens in the static outputs, on SYNTHETIC layer data (test/render/deep-fixture.ts) over the renderer
// fixture: the PNG of one layer (--layer N) and the small-multiples sheet (layers: [...]), resultAtLayer, the
// HTML export's embedded deep data and panel markup, and the page helpers (first layer, reverse lookup).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { BadInputError } from '../../src/errors.js';
import { deepPngOptions, resultAtLayer } from '../../src/render/deep.js';
import { renderHtml } from '../../src/render/html.js';
import { renderPng } from '../../src/render/png.js';
import {
  firstLayers,
  layerPosition,
  lookupWord,
  toDeepPage,
  type DeepPage,
} from '../../src/web/client/deep.js';
import { firstLayer, needleRank, NEEDLE, withDeep, WORDS } from './deep-fixture.js';
import { H, makeImage, makeResult, W } from './fixture.js';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const image = makeImage();
const result = withDeep(makeResult());
const LAYERS = [0, 2, 4, 6, 8];

async function raw(png: Buffer): Promise<{ width: number; height: number; data: Buffer }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}
/** Share of pixels (of a w×h window at x, y) that differ by more than 24 in some channel. */
function diffShare(
  a: { width: number; data: Buffer },
  b: { width: number; data: Buffer },
  x: number,
  y: number,
  w: number,
  h: number,
): number {
  let n = 0;
  for (let yy = y; yy < y + h; yy++) {
    for (let xx = x; xx < x + w; xx++) {
      const oa = (yy * a.width + xx) * 3;
      const ob = (yy * b.width + xx) * 3;
      const d = Math.max(...[0, 1, 2].map((c) => Math.abs(a.data[oa + c] - b.data[ob + c])));
      if (d > 24) n++;
    }
  }
  return n / (w * h);
}

describe('resultAtLayer', () => {
  it('puts the chosen layer and lens top-k on every token', () => {
    const r = resultAtLayer(result, 4, 'embed');
    assert.equal(r.tokens.length, result.tokens.length);
    r.tokens.forEach((t, i) => assert.deepEqual(t.top, result.deep!.layers[2].embed[i]));
    assert.deepEqual(resultAtLayer(result, 8).tokens[7].top, result.deep!.layers[4].logit[7]);
  });
  it('says which layers exist, and that a result without deep has none', () => {
    assert.throws(
      () => resultAtLayer(result, 3),
      (e: unknown) => {
        assert.ok(e instanceof BadInputError);
        assert.match(e.message, /layer 3 is not in this result's deep lens \(it has layers 0, 2, 4, 6, 8\)/);
        return true;
      },
    );
    assert.throws(() => resultAtLayer(makeResult(), 0), /has no deep lens/);
  });
});

describe('deepPngOptions (what the CLI PNG draws)', () => {
  it('--layer N, else a sheet of several layers, else the projector words', () => {
    assert.deepEqual(deepPngOptions(result, 4), { layer: 4 });
    assert.deepEqual(deepPngOptions(result), { layers: LAYERS });
    assert.deepEqual(deepPngOptions(withDeep(makeResult(), { layers: [8] })), {});
    assert.deepEqual(deepPngOptions(makeResult()), {});
  });
});

describe('renderPng with the deep lens', () => {
  it('layer N draws that layer: same size as the plain PNG, different words per layer', async () => {
    const plain = await raw(await renderPng(result, image, { size: 640 }));
    const l0 = await raw(await renderPng(result, image, { size: 640, layer: 0 }));
    const l8 = await raw(await renderPng(result, image, { size: 640, layer: 8 }));
    assert.deepEqual([l0.width, l0.height], [640, 480]);
    assert.deepEqual([plain.width, plain.height], [640, 480]);
    const d08 = diffShare(l0, l8, 0, 0, 640, 480);
    const dp0 = diffShare(plain, l0, 0, 0, 640, 480);
    assert.ok(d08 > 0.01, `layers 0 and 8 differ in ${(d08 * 100).toFixed(2)}% of pixels`);
    assert.ok(dp0 > 0.01, `layer 0 and the projector words differ in ${(dp0 * 100).toFixed(2)}% of pixels`);
    // The same layer twice is the same picture.
    const again = await raw(await renderPng(result, image, { size: 640, layer: 8 }));
    assert.equal(diffShare(l8, again, 0, 0, 640, 480), 0);
  });

  it('layers [...] draws a labelled sheet: ceil(sqrt(n)) columns of panels, each its own layer', async () => {
    const size = 320;
    const ph = (size * H) / W; // 240
    const png = await renderPng(result, image, { size, layers: [0, 4, 8] });
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(`${ARTIFACTS}deep-sheet.png`, png);
    const sheet = await raw(png);
    // 3 panels -> 2 columns x 2 rows; caption bar 34 px, gap 12 px.
    assert.deepEqual([sheet.width, sheet.height], [2 * size + 12, 2 * (ph + 34) + 12]);
    const at = (i: number): [number, number] => [(i % 2) * (size + 12), Math.floor(i / 2) * (ph + 34 + 12)];
    // Each panel equals the single-layer PNG of its layer.
    for (const [i, layer] of [0, 4, 8].entries()) {
      const one = await raw(await renderPng(result, image, { size, layer }));
      const [x, y] = at(i);
      let off = 0;
      for (let yy = 0; yy < ph; yy += 3) {
        for (let xx = 0; xx < size; xx += 3) {
          const a = ((y + 34 + yy) * sheet.width + x + xx) * 3;
          const b = (yy * size + xx) * 3;
          if (Math.abs(sheet.data[a] - one.data[b]) > 2) off++;
        }
      }
      assert.equal(off, 0, `panel ${i} is layer ${layer}'s picture`);
      // The caption bar carries text (light pixels on the dark bar).
      let light = 0;
      for (let yy = y; yy < y + 34; yy++)
        for (let xx = x; xx < x + 160; xx++) if (sheet.data[(yy * sheet.width + xx) * 3] > 150) light++;
      assert.ok(light > 50, `panel ${i} has a caption (${light} light pixels)`);
    }
    // Panels differ between layers, and the empty fourth cell stays the background.
    const [x1, y1] = at(1);
    const left = { width: sheet.width, data: sheet.data };
    let differ = 0;
    for (let yy = 0; yy < ph; yy++) {
      for (let xx = 0; xx < size; xx++) {
        const a = ((34 + yy) * sheet.width + xx) * 3;
        const b = ((y1 + 34 + yy) * sheet.width + x1 + xx) * 3;
        if (Math.abs(left.data[a] - left.data[b]) > 24) differ++;
      }
    }
    assert.ok(differ / (size * ph) > 0.01, 'layer 0 and layer 4 panels differ');
    const [x3, y3] = at(3);
    const bg = (y3 + 100) * sheet.width * 3 + (x3 + 100) * 3;
    assert.deepEqual([...sheet.data.subarray(bg, bg + 3)], [0x16, 0x18, 0x1d]);
  });

  it('refuses an empty layer list and a layer the result lacks', async () => {
    await assert.rejects(renderPng(result, image, { layers: [] }), /at least one layer/);
    await assert.rejects(renderPng(result, image, { layers: [0, 5] }), /layer 5 is not in/);
    await assert.rejects(renderPng(makeResult(), image, { layer: 0 }), /no deep lens/);
  });
});

describe('deep-lens page helpers (client/deep.ts)', () => {
  const page: DeepPage = toDeepPage(result.deep!);
  const T = result.tokens.length;
  it('compacts every layer per token index', () => {
    assert.deepEqual(page.layers, LAYERS);
    assert.equal(page.logit.length, 5);
    assert.equal(page.logit[0].length, T);
    assert.deepEqual(page.logit[1][3][0], [WORDS[(3 + 3 * 4) % WORDS.length], 20 - 0.03, 100 + 2]);
    assert.deepEqual(page.next[0], ['The', 0.41, 450]);
    assert.equal(layerPosition(LAYERS, 5), 2);
  });
  it('first layer of the final word', () => {
    const f = firstLayers(page, 'logit');
    for (let t = 0; t < T; t++) assert.equal(f[t].top1, firstLayer(t, LAYERS, 5), `token ${t}`);
    assert.equal(f[3].top1, 2, 'a t % 3 === 0 token has its final word from layer position 1 (layer 2)');
  });
  it('reverse lookup: rank per token per layer, none for an absent word', () => {
    const { hits, counts } = lookupWord(page, 'logit', ' NEEDLE ');
    for (let l = 0; l < 5; l++) {
      for (let t = 0; t < T; t++)
        assert.equal(hits[l][t]?.rank ?? 0, needleRank(t, l, 5), `layer ${l} token ${t}`);
      assert.equal(counts[l], Array.from({ length: T }, (_, t) => t).filter((t) => t % 4 === l % 4).length);
    }
    const none = lookupWord(page, 'logit', 'zebra');
    assert.deepEqual(none.counts, [0, 0, 0, 0, 0]);
    assert.equal(lookupWord(page, 'embed', NEEDLE).counts[0], counts[0]);
  });
});

describe('renderHtml with the deep lens', () => {
  it('embeds every layer and the panel; a result without deep gets neither', async () => {
    const html = await renderHtml(result, image, { fontBudgetBytes: 0 });
    const m = /<script type="application\/json" id="data">(.*?)<\/script>/s.exec(html);
    assert.ok(m);
    const data = JSON.parse(m[1]) as { deep: DeepPage; aspect: number };
    assert.deepEqual(data.deep.layers, LAYERS);
    assert.equal(data.deep.logit[4].length, result.tokens.length);
    assert.equal(data.deep.embed[2][10][0][0], result.deep!.layers[2].embed[10][0].text.trim());
    assert.equal(data.aspect, W / H);
    assert.match(html, /<aside class="deep" id="deep"/);
    assert.match(html, /<main class="withdeep">/);
    const plain = await renderHtml(makeResult(), image, { fontBudgetBytes: 0 });
    assert.doesNotMatch(plain, /id="deep"/);
    assert.doesNotMatch(plain, /"deep":/);
  });
});
