// HTML renderer: static checks on the markup, then the page in a real headless Chromium (playwright-core):
// hover, keyboard and view switching, tooltip contents, no network, no injected markup; screenshots go to
// test-artifacts/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { escapeHtml, jsonForScript, renderHtml } from '../../src/render/html.js';
import { displayWord } from '../../src/render/text.js';
import { makeImage, makeResult } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const result = makeResult();

describe('renderHtml (static)', () => {
  it('is self-contained and never carries token text as raw markup', async () => {
    const html = await renderHtml(result, makeImage());
    assert.match(html, /<img src="data:image\/jpeg;base64,/);
    assert.match(html, /@font-face\{font-family:"imgtokens Sans"/);
    assert.doesNotMatch(html, /\b(src|href)="(https?:)?\/\//);
    assert.equal(html.includes('<b>&'), false);
    assert.equal(html.includes('</script><script>alert'), false);
    assert.equal((html.match(/<\/script>/g) ?? []).length, 2, 'only the two script elements close');
    assert.match(html, /scene &lt;1&gt;\.png/);
  });

  it('escapes HTML and script-embedded JSON', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const s = jsonForScript({ t: '</script><!--\u2028&' });
    assert.equal(/[<>&\u2028]/.test(s), false);
    assert.deepEqual(JSON.parse(s), { t: '</script><!--\u2028&' });
  });
});

const haveChromium = existsSync(CHROMIUM);
describe(
  'renderHtml in Chromium',
  { skip: haveChromium ? false : `${CHROMIUM} is absent (apt-get install chromium)` },
  () => {
    let browser: Browser;
    let page: Page;
    const external: string[] = [];
    const dialogs: string[] = [];
    const errors: string[] = [];

    before(async () => {
      mkdirSync('test-artifacts', { recursive: true });
      const file = resolve('test-artifacts/render-html.html');
      writeFileSync(file, await renderHtml(result, makeImage()));
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--no-first-run',
          '--disable-sync',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1100, height: 820 } });
      page.on('request', (r) => {
        if (!/^(data|file):/.test(r.url())) external.push(r.url());
      });
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(file).href);
      await page.evaluate(() => document.fonts.ready);
    });
    after(async () => {
      await browser?.close();
    });

    const tipRows = () =>
      page.$$eval('#tip tr', (trs) =>
        trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')),
      );
    const expectedRows = (index: number) =>
      result.tokens[index].top.map((w, k) => [
        String(k + 1),
        displayWord(w.text) || '(empty)',
        w.gloss ?? '',
        w.score.toFixed(4),
        `#${w.id}`,
      ]);

    it('hovering a patch lists its top-k words with scores', async () => {
      await page.hover('.layer[data-view=base] .p[data-i="1"]');
      assert.equal(await page.isVisible('#tip'), true);
      assert.deepEqual(await tipRows(), expectedRows(1));
      assert.equal((await tipRows())[0][1], '<b>&');
      assert.equal(await page.textContent('.layer[data-view=base] .p[data-i="1"] span'), '<b>&');
      await page.hover('.layer[data-view=base] .p[data-i="0"]');
      assert.deepEqual(await tipRows(), expectedRows(0));
      assert.equal((await tipRows())[0][2], 'sky');
      await page.screenshot({ path: 'test-artifacts/render-html-base.png' });
    });

    it('shows dangerous and invisible text as text', async () => {
      assert.equal(await page.locator('.stage b, .stage script, #tip b').count(), 0);
      await page.hover('.layer[data-view=base] .p[data-i="4"]');
      assert.equal((await tipRows())[0][1], '\\x07');
      await page.hover('.layer[data-view=base] .p[data-i="9"]');
      assert.equal((await tipRows())[0][1], '</script><script>alert(1)</script>');
      assert.deepEqual(dialogs, []);
    });

    it('keyboard: focus a patch, arrows move, Escape closes', async () => {
      await page.mouse.move(0, 0);
      await page.focus('.layer[data-view=base] .p[data-i="0"]');
      assert.match((await page.textContent('#tip .h')) ?? '', /row 0, col 0/);
      await page.keyboard.press('ArrowRight');
      assert.match((await page.textContent('#tip .h')) ?? '', /row 0, col 1/);
      await page.keyboard.press('ArrowDown');
      assert.match((await page.textContent('#tip .h')) ?? '', /row 1, col 1 · token #7/);
      await page.keyboard.press('Escape');
      assert.equal(await page.isVisible('#tip'), false);
    });

    it('switches to the high-resolution grid and shows its words; heat map toggles', async () => {
      await page.click('#view-grid');
      assert.equal(await page.isVisible('.layer[data-view=base]'), false);
      assert.equal(await page.isVisible('.layer[data-view=grid]'), true);
      assert.equal(await page.getAttribute('#view-grid', 'aria-pressed'), 'true');
      const gridPatch = result.tokens.find((t) => t.view === 'grid' && t.row === 2 && t.col === 5);
      assert.ok(gridPatch);
      await page.hover(`.layer[data-view=grid] .p[data-i="${gridPatch.index}"]`);
      assert.deepEqual(await tipRows(), expectedRows(gridPatch.index));
      // Newline tokens have no patch.
      const newline = result.tokens.find((t) => t.kind === 'newline');
      assert.equal(await page.locator(`.p[data-i="${newline?.index}"]`).count(), 0);
      await page.check('#heat');
      assert.equal(await page.isVisible('#legend'), true);
      assert.match((await page.getAttribute('#stage', 'class')) ?? '', /\bheat\b/);
      await page.screenshot({ path: 'test-artifacts/render-html-grid.png' });
    });

    it('made no network request and raised no page error', () => {
      assert.deepEqual(external, []);
      assert.deepEqual(errors, []);
    });
  },
);
