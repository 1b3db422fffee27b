// One viewer (issue 10, item 4): the web page and the self-contained HTML export mount the same component
// (src/web/client/result-view.ts). For one result, the fixture model's answer on shapes_120x80.png as the page got
// it, both draw the same cells (same ids, classes, data attributes, roles, aria-labels, boxes and top words) in
// the same listbox, and the same keys and hover make the same patch active. Skipped, with the reason, when
// chromium is not installed.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ImgTokensModel } from '../../src/api.js';
import { loadModel } from '../../src/model.js';
import { renderHtml } from '../../src/render/html.js';
import type { ResultJson } from '../../src/types.js';
import { startServer } from '../server/helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];
const FIXTURES = new URL('../fixtures/llava/', import.meta.url);
const IMAGE = new URL('images/shapes_120x80.png', FIXTURES).pathname;
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const skip = existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

/** Every cell of the shown view as markup facts: what both viewers must agree on. */
function cellMarkup(page: Page): Promise<string[][]> {
  return page.locator('#cells .cell').evaluateAll((cs) =>
    cs.map((c) => {
      const e = c as HTMLElement;
      const first = e.querySelector('span')?.textContent ?? '';
      return [
        e.id,
        // The dark-text flag needs the pixels, so only the export has it.
        e.className.replace(/\s*\bd\b/, ''),
        e.dataset.i ?? '',
        e.dataset.row ?? '',
        e.dataset.col ?? '',
        e.getAttribute('role') ?? '',
        e.getAttribute('aria-label') ?? '',
        e.style.left,
        e.style.top,
        e.style.width,
        e.style.height,
        first === '∅' ? '' : first,
      ];
    }),
  );
}

const hostFacts = (page: Page) =>
  page
    .locator('#cells')
    .evaluate((h) => [
      h.classList.contains('cells') && h.classList.contains('layer'),
      h.getAttribute('role'),
      h.getAttribute('tabindex'),
      (h as HTMLElement).dataset.view,
    ]);

describe('one viewer: the page and the HTML export run the same component', { skip }, () => {
  let browser: Browser;
  let model: ImgTokensModel;
  let url: string;
  let stop: () => Promise<void>;
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    model = await loadModel(new URL('tiny-llava-next', FIXTURES).pathname, {});
    ({ url, stop } = await startServer({ model }));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });
  after(async () => {
    await browser?.close();
    await stop?.();
    await model?.close();
  });

  test('same cells, same listbox, same keyboard and hover for the same result', async () => {
    // The page: upload the image; keep the result it received.
    const web = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const problems: string[] = [];
    const modules: string[] = [];
    web.on('pageerror', (e) => problems.push(e.message));
    web.on('request', (r) => modules.push(new URL(r.url()).pathname));
    await web.goto(url);
    await web.locator('#model-status.ready').waitFor({ timeout: 20_000 });
    const [reply] = await Promise.all([
      web.waitForResponse((r) => r.url().endsWith('/api/analyze')),
      web.locator('#file').setInputFiles(IMAGE),
    ]);
    const result = (await reply.json()) as ResultJson;
    await web.locator('#cells .cell').first().waitFor();
    assert.ok(modules.includes('/js/result-view.js'), 'the page loads the shared viewer module');

    // The export of that very result.
    const features = await model.encode(IMAGE, { name: 'shapes_120x80.png' });
    const file = `${ARTIFACTS}one-viewer-export.html`;
    writeFileSync(file, await renderHtml(result, features.rgb, { view: 'base' }));
    const exp = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    exp.on('pageerror', (e) => problems.push(e.message));
    await exp.goto(pathToFileURL(file).href);
    await exp.locator('#cells .cell').first().waitFor();

    const a = await cellMarkup(web);
    const b = await cellMarkup(exp);
    assert.equal(a.length, result.tokens.filter((t) => t.view === 'base' && t.kind === 'patch').length);
    assert.ok(a.length > 0);
    assert.deepEqual(b, a, 'the same cell markup in the page and in the export');
    assert.deepEqual(await hostFacts(exp), await hostFacts(web));
    assert.deepEqual(await hostFacts(web), [true, 'listbox', '0', 'base']);

    // The same navigation: Home, right, down makes the same patch active in both, named by aria-activedescendant.
    const activeAfterKeys = async (page: Page) => {
      await page.locator('#cells').focus();
      for (const key of ['Home', 'ArrowRight', 'ArrowDown']) await page.keyboard.press(key);
      return [
        await page.locator('#cells').getAttribute('aria-activedescendant'),
        await page.locator('.cell.active').getAttribute('id'),
      ];
    };
    const keysWeb = await activeAfterKeys(web);
    assert.deepEqual(await activeAfterKeys(exp), keysWeb);
    const second = result.tokens.find((t) => t.view === 'base' && t.row === 1 && t.col === 1);
    assert.deepEqual(keysWeb, [`cell-${second?.index}`, `cell-${second?.index}`]);

    // Enter pins the active patch in both; a hovered patch becomes the active one.
    for (const page of [web, exp]) {
      await page.keyboard.press('Enter');
      assert.equal(await page.locator('.cell.pinned').getAttribute('id'), `cell-${second?.index}`);
      await page.locator('.cell').nth(5).hover();
      assert.equal(await page.locator('.cell.active').getAttribute('id'), a[5][0]);
    }
    assert.deepEqual(problems, []);
    await web.close();
    await exp.close();
  });
});
