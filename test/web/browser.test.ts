// The page in a real browser (Debian's chromium through playwright-core) against the server running the
// fixture model: upload an image, see the overlay, hover a patch and read its top-k, move with the keyboard,
// switch method (served from the feature cache), switch view, download the JSON, and see an error for a
// non-image. Screenshots go to test-artifacts/. Skipped, with the reason, when chromium is not installed.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ImgTokensModel } from '../../src/api.js';
import { loadModel } from '../../src/model.js';
import { DEFAULT_K, DEFAULT_METHOD, LENS_METHODS } from '../../src/lens-methods.js';
import type { ResultJson } from '../../src/types.js';
import { startServer } from '../server/helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];
const FIXTURES = new URL('../fixtures/llava/', import.meta.url);
const IMAGE = new URL('images/shapes_120x80.png', FIXTURES).pathname;
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const skip = existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

function fixtureModel(): Promise<ImgTokensModel> {
  return loadModel(new URL('tiny-llava-next', FIXTURES).pathname, {});
}

describe('page in chromium', { skip }, () => {
  let browser: Browser;
  let url: string;
  let stop: () => Promise<void>;
  let model: ImgTokensModel;
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    model = await fixtureModel();
    ({ url, stop } = await startServer({ model }));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });
  after(async () => {
    await browser?.close();
    await stop?.();
    await model?.close();
  });

  async function openPage(width: number, height: number): Promise<Page> {
    const page = await browser.newPage({
      viewport: { width, height },
      acceptDownloads: true,
      hasTouch: width < 600,
    });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    (page as Page & { problems: string[] }).problems = problems;
    await page.goto(url);
    await page.locator('#model-status.ready').waitFor({ timeout: 20_000 });
    return page;
  }

  test('upload, overlay, hover top-k, keyboard, method switch, view switch, JSON download', async () => {
    const page = await openPage(1360, 900);
    const stats0 = (await (await fetch(`${url}api/stats`)).json()) as {
      cache: { misses: number; hits: number };
    };

    // The method <select> and the k slider start at the lens table's defaults; three words per token from here on.
    assert.equal(await page.locator('#method').inputValue(), DEFAULT_METHOD);
    assert.deepEqual(
      await page.locator('#method option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)),
      [...LENS_METHODS],
    );
    assert.equal(await page.locator('#k').inputValue(), String(DEFAULT_K));
    await page.locator('#k').fill('3');

    await page.locator('#file').setInputFiles(IMAGE);
    await page.locator('.cell').first().waitFor();
    const base = model.info.modelType === 'fake' ? 16 : 64;
    const cells = await page.locator('.cell').count();
    if (base) assert.equal(cells, base, 'base view of tiny-llava-next: 8x8 patches');
    assert.ok(
      (await page.locator('.cell').first().innerText()).trim().length > 0,
      'words drawn on the patches',
    );
    assert.match(await page.locator('#caption').innerText(), /shapes_120x80\.png · 120×80/);

    // Hover a patch: its top-k (k = 3) appear as bars, matching the server's answer.
    await page.locator('.cell').nth(9).hover();
    await page.locator('#bars li').nth(2).waitFor();
    assert.equal(await page.locator('#bars li').count(), 3);
    assert.match(await page.locator('#detail-title').innerText(), /^Row \d+, column \d+$/);
    const words = await page.locator('#bars li .w').allInnerTexts();

    // Keyboard: focus the patch grid and move right.
    await page.locator('#cells').focus();
    await page.keyboard.press('Home');
    assert.equal(await page.locator('#detail-title').innerText(), 'Row 1, column 1');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.locator('#detail-title').innerText(), 'Row 2, column 2');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.locator('#detail-title').innerText(), 'Row 2, column 1');
    assert.equal(
      await page.locator('#cells').getAttribute('aria-activedescendant'),
      await page.locator('.cell.active').getAttribute('id'),
    );

    await page.locator('#heat').check();
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.locator('.cell').nth(9).hover();
    await page.screenshot({ path: `${ARTIFACTS}web-desktop.png`, fullPage: true });

    // Another method: a new result, same image features (served from the cache).
    await page.locator('#method').selectOption('dot');
    await page.locator('#caption', { hasText: 'dot, top 3' }).waitFor();
    const stats1 = (await (await fetch(`${url}api/stats`)).json()) as {
      cache: { misses: number; hits: number };
    };
    assert.equal(stats1.cache.misses - stats0.cache.misses, 1, 'one vision-tower run for the image');
    assert.ok(stats1.cache.hits > stats0.cache.hits, 'the method switch hit the cache');

    // JSON download is the server's result for what is shown.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-json').click()]);
    const json = JSON.parse(readFileSync((await download.path())!, 'utf8')) as ResultJson;
    assert.equal(json.schema, 'imgtokens.result/1');
    assert.equal(json.method, 'dot');
    assert.equal(json.k, 3);
    assert.deepEqual(json.image, { width: 120, height: 80, name: 'shapes_120x80.png' });
    assert.equal(download.suggestedFilename(), 'shapes_120x80.dot.json');
    assert.ok(words.every((w) => w.length > 0));

    // Grid view, when the model has one, redraws locally.
    if (!(await page.locator('input[name=view][value=grid]').isDisabled())) {
      await page.locator('.segmented label', { hasText: 'Grid' }).click();
      const gridCells = json.tokens.filter((t) => t.view === 'grid' && t.kind === 'patch').length;
      await page.waitForFunction((n) => document.querySelectorAll('.cell').length === n, gridCells);
    }

    // PNG and HTML downloads are produced in the page.
    const [png] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-png').click()]);
    assert.deepEqual([...readFileSync((await png.path())!).subarray(1, 4)], [0x50, 0x4e, 0x47]);
    const [html] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-html').click()]);
    const page2 = readFileSync((await html.path())!, 'utf8');
    assert.match(page2.slice(0, 200), /^<!doctype html>/i);
    assert.ok(page2.includes('shapes_120x80.png'));
    assert.deepEqual((page as Page & { problems: string[] }).problems, []);
    await page.close();
  });

  test('phone width: stage first, tap a patch, and a clear error for a non-image', async () => {
    const page = await openPage(390, 844);
    await page.locator('#examples button').first().click();
    await page.locator('.cell').first().waitFor();
    await page.mouse.move(0, 0);
    await page.locator('.cell').nth(3).tap();
    await page.locator('#bars li').first().waitFor();
    const label = (await page.locator('.cell').nth(3).getAttribute('aria-label'))!;
    const [, row, col] = /^row (\d+), column (\d+)/.exec(label)!;
    assert.equal(await page.locator('#detail-title').innerText(), `Row ${row}, column ${col}`);
    assert.equal(await page.locator('.cell.pinned').count(), 1);
    const stage = await page.locator('.stage-panel').boundingBox();
    const controls = await page.locator('.controls').boundingBox();
    assert.ok(stage && controls && stage.y < controls.y, 'the image comes before the controls');
    assert.ok(stage.width <= 390, 'no horizontal overflow');
    await page.screenshot({ path: `${ARTIFACTS}web-phone.png`, fullPage: true });
    await page
      .locator('#file')
      .setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    await page.locator('#error', { hasText: 'not a JPEG, PNG, GIF or WebP' }).waitFor();
    await page.close();
  });
});
