// The deep lens's viewers in a real browser (Debian's chromium through playwright-core): the HTML export and the
// web page, each on a REAL tiny-llava result (the fixture model run on shapes_120x80.png) carrying SYNTHETIC layer
// data (test/render/deep-fixture.ts; the deep runner is not what is tested here). The slider, keys and play button
// redraw each patch's word for the layer; the lens switch; the tooltip's "first layer" line; the reverse lookup's
// heat map marks exactly the patches whose top-k holds the word, and says so when no patch does; the next-token
// list. Screenshots go to test-artifacts/. Skipped, with the reason, when chromium is not installed.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ImgTokensModel } from '../../src/api.js';
import { loadModel } from '../../src/model.js';
import { renderHtml } from '../../src/render/html.js';
import { displayWord } from '../../src/vocab/word.js';
import { heatCss } from '../../src/web/client/view.js';
import type { ResultJson, RgbImage } from '../../src/types.js';
import { needleRank, withDeep } from '../render/deep-fixture.js';
import { startServer } from '../server/helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];
const FIXTURES = new URL('../fixtures/llava/', import.meta.url);
const IMAGE = new URL('images/shapes_120x80.png', FIXTURES).pathname;
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const LAYERS = [0, 2, 4, 6, 8];
const K = 5;
const skip = existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

/** Expected top word of every base-view patch at layer position l, keyed by token index. */
function wordsAt(r: ResultJson, l: number, lens: 'logit' | 'embed'): Map<number, string> {
  const m = new Map<number, string>();
  r.tokens.forEach((t, i) => {
    if (t.view === 'base' && t.kind === 'patch')
      m.set(t.index, displayWord(r.deep!.layers[l][lens][i][0].text));
  });
  return m;
}

describe('deep lens in chromium', { skip }, () => {
  let browser: Browser;
  let model: ImgTokensModel;
  let real: ResultJson;
  let deep: ResultJson;
  let rgb: RgbImage;
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    model = await loadModel(new URL('tiny-llava', FIXTURES).pathname, {});
    const f = await model.encode(IMAGE, { name: 'shapes_120x80.png' });
    rgb = f.rgb;
    real = await model.lens(f, { method: 'cosine', k: K, exclude: [] });
    deep = withDeep(real, { layers: LAYERS, numLayers: 8, k: K });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });
  after(async () => {
    await browser?.close();
    await model?.close();
  });

  function watch(page: Page): string[] {
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    return problems;
  }

  test('HTML export: slider, keys, play, lens switch, first layer, reverse lookup, next token', async () => {
    const file = `${ARTIFACTS}deep-export.html`;
    writeFileSync(file, await renderHtml(deep, rgb));
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const problems = watch(page);
    await page.goto(pathToFileURL(file).href);
    const words = (): Promise<Map<number, string>> =>
      page
        .locator('.layer:not([hidden]) .p')
        .evaluateAll((ps) => ps.map((p) => [Number((p as HTMLElement).dataset.i), p.textContent ?? '']))
        .then((a) => new Map(a as Array<[number, string]>));
    const out = () => page.locator('#deep-layer-out').innerText();

    // Opens on the logit lens at the last chosen layer.
    assert.equal(await page.locator('#deep-layer').getAttribute('max'), String(LAYERS.length - 1));
    assert.equal(await out(), 'layer 8 / 8');
    assert.deepEqual(await words(), wordsAt(deep, 4, 'logit'));
    assert.equal((await words()).size, 64, 'tiny-llava: 8×8 patches');

    // The slider and its keys.
    await page.locator('#deep-layer').focus();
    await page.keyboard.press('Home');
    assert.equal(await out(), 'layer 0 / 8');
    assert.deepEqual(await words(), wordsAt(deep, 0, 'logit'));
    assert.notDeepEqual(wordsAt(deep, 0, 'logit'), wordsAt(deep, 4, 'logit'));
    await page.keyboard.press('ArrowRight');
    assert.equal(await out(), 'layer 2 / 8');
    assert.deepEqual(await words(), wordsAt(deep, 1, 'logit'));
    // Page-wide keys when nothing is focused.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.keyboard.press('End');
    assert.equal(await out(), 'layer 8 / 8');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await out(), 'layer 6 / 8');
    assert.deepEqual(await words(), wordsAt(deep, 3, 'logit'));

    // Play from layer 0 steps through every chosen layer and stops at the last.
    await page.locator('#deep-layer').focus();
    await page.keyboard.press('Home');
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      const o = document.getElementById('deep-layer-out')!;
      new MutationObserver(() => seen.push(o.textContent ?? '')).observe(o, { childList: true });
    });
    await page.locator('#deep-play').click();
    assert.equal(await page.locator('#deep-play').getAttribute('aria-pressed'), 'true');
    await page.locator('#deep-play[aria-pressed=false]').waitFor({ timeout: 10_000 });
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    assert.deepEqual(seen, ['layer 2 / 8', 'layer 4 / 8', 'layer 6 / 8', 'layer 8 / 8']);
    assert.deepEqual(await words(), wordsAt(deep, 4, 'logit'));

    // Lens switch: the embedding lens's words, then the projector-level result's own.
    await page.locator('#deep-lens-embed').click();
    assert.deepEqual(await words(), wordsAt(deep, 4, 'embed'));
    await page.locator('#deep-lens-proj').click();
    const proj = new Map(
      real.tokens.filter((t) => t.kind === 'patch').map((t) => [t.index, displayWord(t.top[0].text)]),
    );
    assert.deepEqual(await words(), proj);
    assert.equal(await page.locator('#deep-layer').isDisabled(), true);
    await page.locator('#deep-lens-logit').click();

    // Tooltip: the layer and when the patch's final word first tops it (token 3: from layer 2, synthetic rule).
    await page.locator('.p[data-i="3"]').hover();
    await page.locator('#tip', { hasText: 'on top from layer 2' }).waitFor();
    assert.match(await page.locator('#tip').innerText(), /layer 8 \/ 8 · logit lens/);

    // First-layer heat: every patch coloured.
    await page.locator('#deep-first').check();
    const dheat = () =>
      page
        .locator('.layer:not([hidden]) .p')
        .evaluateAll((ps) =>
          ps
            .filter((p) => (p as HTMLElement).style.getPropertyValue('--dheat'))
            .map((p) => Number((p as HTMLElement).dataset.i)),
        );
    assert.equal((await dheat()).length, 64);
    // Token 3's final word tops it from layer 2 (position 1 of 5): heat 1 - 1/4 on the magma ramp.
    assert.equal(
      await page
        .locator('.p[data-i="3"]')
        .evaluate((p) => (p as HTMLElement).style.getPropertyValue('--dheat')),
      heatCss(0.75, 0.8),
    );
    assert.equal(await page.locator('#stage.dheat').count(), 1);
    await page.locator('#deep-first').uncheck();

    // Reverse lookup at layer 8 (position 4): exactly the patches whose top-k holds "needle", brighter for rank 1.
    await page.locator('#deep-find').fill('Needle');
    const expected = (l: number) =>
      [...wordsAt(deep, l, 'logit').keys()].filter((t) => needleRank(t, l, K) > 0).sort((a, b) => a - b);
    assert.deepEqual(
      (await dheat()).sort((a, b) => a - b),
      expected(4),
    );
    assert.match(
      await page.locator('#deep-status').innerText(),
      /“Needle” at layer 8: in the top-5 of 16 of 64 tokens/,
    );
    // One small heat map per layer, each with its count; clicking one goes to that layer.
    assert.equal(await page.locator('#deep-maps .dmap').count(), LAYERS.length);
    const counts = await page
      .locator('#deep-maps .dmap')
      .evaluateAll((ms) => ms.map((m) => (m as HTMLElement).dataset.count));
    assert.deepEqual(
      counts,
      LAYERS.map((_, l) => String(expected(l).length)),
    );
    await page.locator('#deep-maps .dmap').first().click();
    assert.equal(await out(), 'layer 0 / 8');
    assert.deepEqual(
      (await dheat()).sort((a, b) => a - b),
      expected(0),
    );
    await page.locator('.p[data-i="4"]').hover();
    await page.locator('#tip', { hasText: '“Needle”: rank 1 of 5 here' }).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}deep-export-lookup.png`, fullPage: true });

    // A word in no patch's top-k: nothing coloured, and the status says why.
    await page.locator('#deep-find').fill('zebra');
    assert.deepEqual(await dheat(), []);
    assert.match(
      await page.locator('#deep-status').innerText(),
      /“zebra” is in no token’s top-5 at layer 0 nor at any chosen layer/,
    );
    await page.locator('#deep-find').fill('');
    assert.equal(await page.locator('#stage.dheat').count(), 0);

    // The model's next-token top-k beside the picture.
    assert.deepEqual(await page.locator('#deep-next li b').allInnerTexts(), ['The', 'This', 'A']);
    const stage = (await page.locator('#stage').boundingBox())!;
    const side = (await page.locator('#deep').boundingBox())!;
    assert.ok(side.x >= stage.x + stage.width - 1, 'the deep panel sits beside the picture');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('HTML export without deep: no deep panel, the page as before', async () => {
    const file = `${ARTIFACTS}deep-export-plain.html`;
    writeFileSync(file, await renderHtml(real, rgb));
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    const problems = watch(page);
    await page.goto(pathToFileURL(file).href);
    assert.equal(await page.locator('#deep').count(), 0);
    assert.equal(await page.locator('.layer .p').count(), 64);
    await page.locator('.p[data-i="3"]').hover();
    await page.locator('#tip table').waitFor();
    assert.doesNotMatch(await page.locator('#tip').innerText(), /layer/);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('web page: layers are sent, the slider redraws the cells, the reverse lookup colours them', async () => {
    // The fixture model, whose deep lens (what the server calls for a request with "layers") gives the synthetic
    // layer data, so the page's words per layer are known here; the real runner is tested in src/llm.
    const wrapped: ImgTokensModel = {
      info: model.info,
      encode: (image, opts) => model.encode(image, opts),
      lens: (f, o) => model.lens(f, o),
      analyze: (image, o) => model.analyze(image, o),
      deep: async (f, o) => {
        const k = o?.k ?? K;
        const synthetic = withDeep(await model.lens(f, { method: 'cosine', k }), {
          layers: LAYERS,
          numLayers: 8,
          k,
        });
        const none = new BigInt64Array(0);
        const shape = { layers: 0, tokens: 0, hidden: 0, k, seq: 0 };
        const tensors = {
          inputIds: none,
          hiddenStates: new Float32Array(0),
          lensIds: none,
          lensScores: new Float32Array(0),
          finalLogits: null,
          shape,
        };
        return { deep: synthetic.deep!, tensors };
      },
      close: async () => {},
    };
    const { url, stop } = await startServer({ model: wrapped });
    try {
      const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
      const problems = watch(page);
      // What the page's form sends: fetch is wrapped to record the FormData's "layers" field.
      await page.addInitScript(() => {
        const w = window as unknown as { sentLayers: Array<string | null>; rendered: string[] };
        w.sentLayers = [];
        w.rendered = [];
        const orig = window.fetch.bind(window);
        window.fetch = (input, init) => {
          if (String(input).endsWith('/api/analyze') && init?.body instanceof FormData)
            w.sentLayers.push(init.body.get('layers') as string | null);
          if (String(input).endsWith('/api/render') && init?.body instanceof FormData)
            w.rendered.push(init.body.get('result') as string);
          return orig(input, init);
        };
      });
      await page.goto(url);
      await page.locator('#model-status.ready').waitFor({ timeout: 20_000 });
      await page.locator('#k').fill('5');
      await page.locator('#layers').fill('0,2,4,6,8');
      await page.locator('#layers').blur(); // its change event, before there is an image to send
      await page.waitForTimeout(400); // and k's debounced re-ask (200 ms), so one request follows the upload
      await page.locator('#file').setInputFiles(IMAGE);
      await page.locator('#deep-layer').waitFor();
      const sent = await page.evaluate(() => (window as unknown as { sentLayers: string[] }).sentLayers);
      assert.deepEqual(sent, ['0,2,4,6,8'], 'the form carries layers');
      const cellWords = () =>
        page.locator('.cell').evaluateAll((cs) => cs.map((c) => c.querySelector('span')?.textContent ?? ''));
      const result = withDeep(real, { layers: LAYERS, numLayers: 8, k: K });
      const expect = (l: number) => [...wordsAt(result, l, 'logit').values()];
      await page.waitForFunction(() => document.querySelectorAll('.cell span').length > 0);
      assert.deepEqual(await cellWords(), expect(4));
      await page.locator('#deep-layer').focus();
      await page.keyboard.press('Home');
      assert.deepEqual(await cellWords(), expect(0));
      await page.keyboard.press('ArrowRight');
      assert.deepEqual(await cellWords(), expect(1));
      assert.equal(await page.locator('#deep-layer-out').innerText(), 'layer 2 / 8');

      await page.locator('#deep-find').fill('needle');
      const coloured = await page
        .locator('.cell')
        .evaluateAll((cs) => cs.map((c) => Boolean((c as HTMLElement).style.getPropertyValue('--dheat'))));
      const tokens = result.tokens.filter((t) => t.kind === 'patch');
      assert.deepEqual(
        coloured,
        tokens.map((t) => needleRank(t.index, 1, K) > 0),
      );
      await page.locator('.cell').nth(1).hover();
      await page.locator('#deep-detail', { hasText: '“needle”: rank 2 of 5 here' }).waitFor();
      assert.deepEqual(await page.locator('#deep-next li b').allInnerTexts(), ['The', 'This', 'A']);
      await page.screenshot({ path: `${ARTIFACTS}deep-web.png`, fullPage: true });

      // The PNG download draws the layer on screen (sent as a plain result with that layer's words).
      const [png] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-png').click()]);
      assert.deepEqual([...readFileSync((await png.path())!).subarray(1, 4)], [0x50, 0x4e, 0x47]);
      const rendered = await page.evaluate(() => (window as unknown as { rendered: string[] }).rendered);
      const sentResult = JSON.parse(rendered[0]) as ResultJson;
      assert.equal(sentResult.deep, undefined);
      assert.deepEqual(
        sentResult.tokens.filter((t) => t.kind === 'patch').map((t) => t.top[0].text),
        expect(1),
      );
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await stop();
    }
  });
});
