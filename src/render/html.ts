/**
 * The HTML renderer: ONE self-contained page (image as a data: URI, inline CSS and JS, no network) with each
 * token's top word over its patch. Hovering, focusing (Tab, then arrow keys) or tapping a patch shows its top-k
 * words with scores; click or Enter pins the tooltip, Escape closes it. A switch picks the base view or the
 * high-resolution grid when the result has both; a heat-map toggle colours each patch by its top score (scaled
 * per view from the lowest to the highest top score).
 *
 * The page's behaviour is the one result viewer the web page also runs (src/web/client/result-view.ts, started by
 * src/web/client/viewer.ts), bundled at build time (src/render/viewer-script.ts) and inlined; this module only
 * builds the data (result-view.ts resultData, plus each patch's dark-text flag) and the markup.
 *
 * A result with the deep lens (ResultJson.deep, issue 12) also embeds every chosen layer's logit- and
 * embedding-lens top-k (src/web/client/deep.ts toDeepPage) and gets the deep-lens panel beside the picture: lens
 * switch, layer slider with keys and a play button, "first layer of the final word" heat, reverse word lookup with
 * per-layer heat maps, and the model's next-token top-k (src/web/client/deep-ui.ts).
 *
 * Safety: all token text reaches the page only as JSON inside <script type="application/json"> with `<`, `>`, `&`,
 * U+2028 and U+2029 escaped, and the script writes it with textContent, never as markup; header text (model id,
 * image name) is HTML-escaped. Control, bidi and zero-width characters are shown as escapes (displayWord).
 *
 * Label sizing is CSS: each patch is a size container, and the label's font-size is the smaller of a share of
 * the patch height and the patch width divided by the label's estimated width in em (result-view.ts, deep.ts
 * labelFit).
 */

import { createCanvas } from '@napi-rs/canvas';
import type { ResultJson, RgbImage } from '../types.js';
import { BadInputError } from '../errors.js';
import { fontSlicesFor } from './fonts.js';
import { viewerScript } from './viewer-script.js';
import { DEEP_CSS, toDeepPage } from '../web/client/deep.js';
import { resultData } from '../web/client/result-view.js';
import { readFileSync } from 'node:fs';
import {
  checkImageMatches,
  meanLuminance,
  prefersDarkText,
  selectViews,
  viewTitle,
  type ViewChoice,
} from './text.js';

export interface HtmlOptions {
  /** Views offered by the switch; default 'all' (every view in the result). The first one is shown first. */
  view?: ViewChoice;
  /** Page title; default "imgtokens · <image name or model id>". */
  title?: string;
  /** Embedded image encoding; default 'jpeg' (quality 90); 'png' is lossless but larger. */
  imageFormat?: 'jpeg' | 'png';
  /** The embedded image is downscaled so its longest side is at most this; default 2048. */
  maxImageSide?: number;
  /**
   * Most bytes of font (WOFF2 slices of the bundled Noto Sans SC/KR covering the characters the page uses) to
   * embed; default 3 MB; 0 embeds none. Characters beyond the budget fall back to the viewer's system fonts.
   */
  fontBudgetBytes?: number;
}

/** Builds the page. The image must be the one the result was computed on (boxes are in its pixels). */
export async function renderHtml(
  result: ResultJson,
  image: RgbImage,
  options: HtmlOptions = {},
): Promise<string> {
  checkImageMatches(result, image);
  const views = selectViews(result, options.view ?? 'all');
  const dataUri = await encodeImage(image, options.imageFormat ?? 'jpeg', options.maxImageSide ?? 2048);
  const name = result.image.name ?? '';
  const title = options.title ?? `imgtokens · ${name || result.model.id}`;
  const meta = [
    result.model.id + (result.model.revision ? `@${result.model.revision}` : ''),
    `method ${result.method}`,
    `top-${result.k}`,
    result.exclude.length ? `excluding ${result.exclude.join(', ')}` : '',
    `${result.image.width}×${result.image.height}`,
  ].filter(Boolean);
  const deep = result.deep
    ? toDeepPage(
        result.deep,
        result.tokens.map((t) => t.index),
      )
    : undefined;
  // The same data the web page builds in the browser; only the dark-text flag (it needs the pixels) is added here.
  const data = resultData(
    result,
    views.map((v) => ({ name: v.name, title: viewTitle(v), rows: v.rows, cols: v.cols })),
    deep,
    (box) => prefersDarkText(meanLuminance(image, box)),
  );
  const pageText = [
    title,
    name,
    ...meta,
    ...data.views.map((v) => v.title),
    JSON.stringify(data.views),
    deep ? JSON.stringify(deep) : '',
  ].join(' ');
  const fontFaces = embedFonts(pageText, options.fontBudgetBytes ?? 3_000_000);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; font-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title>
<style>${fontFaces}${CSS}</style>
</head>
<body>
<header>
  <h1>${escapeHtml(name || 'image')} <span class="meta">${meta.map(escapeHtml).join(' · ')}</span></h1>
  <div class="controls">
    <div class="seg" role="group" aria-label="View" ${views.length < 2 ? 'hidden' : ''}>
      ${views
        .map(
          (v, i) =>
            `<button type="button" id="view-${v.name}" data-view="${v.name}" aria-pressed="${i === 0}">${escapeHtml(
              viewTitle(v),
            )}</button>`,
        )
        .join('')}
    </div>
    <label><input type="checkbox" id="words" checked> words</label>
    <label><input type="checkbox" id="heat"> heat map</label>
    <span class="legend" id="legend" hidden><span id="lo"></span><i></i><span id="hi"></span></span>
  </div>
</header>
<main${deep ? ' class="withdeep"' : ''}>
  <div class="col">
  <div class="stage" id="stage" style="--aspect:${image.width / image.height}">
    <img src="${dataUri}" alt="${escapeHtml(name || 'analysed image')}" draggable="false">
    <div id="cells" class="cells layer" role="listbox" tabindex="0" aria-label="Image tokens"></div>
  </div>
  <p class="help">Hover, tap or Tab to a patch for its top-${result.k} words · arrow keys move · Enter pins · Esc closes${
    deep ? ' · ←/→, Home/End (outside the picture) change the layer' : ''
  }</p>
  </div>${deep ? '\n  <aside class="deep" id="deep" aria-label="Deep lens: every layer of the language model" hidden></aside>' : ''}
</main>
<div id="tip" role="tooltip" hidden></div>
<script type="application/json" id="data">${jsonForScript(data)}</script>
<script>${await viewerScript()}</script>
</body>
</html>
`;
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** JSON that is safe inside a <script> element: no `</script>`, `<!--`, or line separators can appear raw. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * @font-face rules (data: URIs) for the bundled font slices that cover `text`, Latin first and then the slices
 * that cover the most characters, until `budget` bytes of WOFF2 are used.
 */
function embedFonts(text: string, budget: number): string {
  if (budget <= 0) return '';
  const chars = new Set(Array.from(text, (c) => c.codePointAt(0) ?? 0));
  const covered = (range: string): number => {
    let n = 0;
    for (const r of range.split(',')) {
      const [a, b] = r.trim().replace(/^U\+/i, '').split('-');
      const lo = parseInt(a, 16);
      const hi = parseInt(b ?? a, 16);
      for (const cp of chars) if (cp >= lo && cp <= hi) n++;
    }
    return n;
  };
  const ranked = fontSlicesFor(text)
    .map((s) => ({ s, n: /-latin-wght/.test(s.path) ? Infinity : covered(s.unicodeRange) }))
    .sort((a, b) => b.n - a.n);
  let used = 0;
  let css = '';
  for (const { s } of ranked) {
    if (used + s.bytes > budget) continue;
    used += s.bytes;
    const b64 = readFileSync(s.path).toString('base64');
    css +=
      `@font-face{font-family:"${s.family}";font-style:normal;font-weight:100 900;font-display:block;` +
      `src:url(data:font/woff2;base64,${b64}) format("woff2");unicode-range:${s.unicodeRange}}\n`;
  }
  return css;
}

async function encodeImage(image: RgbImage, format: 'jpeg' | 'png', maxSide: number): Promise<string> {
  if (!Number.isInteger(maxSide) || maxSide < 16) {
    throw new BadInputError(`maxImageSide must be an integer of at least 16, got ${maxSide}`);
  }
  const scale = Math.min(1, maxSide / Math.max(image.width, image.height));
  const w = Math.max(1, Math.round(image.width * scale));
  const h = Math.max(1, Math.round(image.height * scale));
  const src = createCanvas(image.width, image.height);
  const sctx = src.getContext('2d');
  const id = sctx.createImageData(image.width, image.height);
  for (let i = 0, j = 0; i < image.width * image.height; i++, j += 3) {
    id.data[i * 4] = image.data[j];
    id.data[i * 4 + 1] = image.data[j + 1];
    id.data[i * 4 + 2] = image.data[j + 2];
    id.data[i * 4 + 3] = 255;
  }
  sctx.putImageData(id, 0, 0);
  let out = src;
  if (scale < 1) {
    out = createCanvas(w, h);
    const octx = out.getContext('2d');
    octx.imageSmoothingQuality = 'high';
    octx.drawImage(src, 0, 0, w, h);
  }
  const bytes = format === 'png' ? await out.encode('png') : await out.encode('jpeg', 90);
  return `data:image/${format};base64,${bytes.toString('base64')}`;
}

const CSS = `${DEEP_CSS}
:root{color-scheme:dark;--bg:#111318;--fg:#e8eaf0;--mut:#9aa0ae;--acc:#7cc4ff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.4 "imgtokens Sans","imgtokens Sans KR",system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","Noto Sans SC","PingFang SC","Hiragino Sans","Microsoft YaHei",sans-serif}
header{display:flex;flex-wrap:wrap;gap:8px 20px;align-items:center;justify-content:space-between;padding:10px 16px;border-bottom:1px solid #262a33}
h1{font-size:16px;margin:0;font-weight:600}
.meta{color:var(--mut);font-weight:400;font-size:13px;margin-left:8px}
.controls{display:flex;gap:14px;align-items:center;flex-wrap:wrap}
.controls label{display:flex;gap:5px;align-items:center;cursor:pointer}
.seg{display:inline-flex;border:1px solid #3a404d;border-radius:7px;overflow:hidden}
.seg[hidden]{display:none}
.seg button{font:inherit;color:var(--fg);background:transparent;border:0;padding:5px 12px;cursor:pointer}
.seg button+button{border-left:1px solid #3a404d}
.seg button[aria-pressed=true]{background:#2b5f8c;color:#fff}
.seg button:focus-visible,input:focus-visible{outline:2px solid var(--acc);outline-offset:2px}
.legend{display:inline-flex;gap:6px;align-items:center;color:var(--mut);font-size:12px}
.legend[hidden]{display:none}
.legend i{display:inline-block;width:110px;height:10px;border-radius:3px;background:linear-gradient(90deg,#440154,#3b528b,#21918c,#5ec962,#fde725)}
main{padding:12px 16px}
.stage{position:relative;margin:0 auto;width:min(100%,calc((100vh - 120px) * var(--aspect)));aspect-ratio:var(--aspect);user-select:none;-webkit-user-select:none}
.stage img{position:absolute;inset:0;width:100%;height:100%;display:block}
.layer{position:absolute;inset:0}
.layer[hidden]{display:none}
.p{position:absolute;container-type:size;display:flex;align-items:center;justify-content:center;overflow:hidden;cursor:pointer;outline:none}
.p span{white-space:nowrap;font-weight:600;line-height:1;pointer-events:none;font-size:calc(var(--f) * 100cqh);color:#fff;text-shadow:0 0 2px #000,0 0 1px #000,0 0 3px rgba(0,0,0,.6)}
.p.d span{color:#000;text-shadow:0 0 2px #fff,0 0 1px #fff,0 0 3px rgba(255,255,255,.7)}
.nowords .p span{visibility:hidden}
.heat .p{background:var(--heat)}
.heat .p span{color:#fff;text-shadow:0 0 2px #000,0 0 1px #000}
.heat .p.hd span{color:#000;text-shadow:0 0 2px #fff,0 0 1px #fff}
.layer:focus-visible{outline:2px solid var(--acc);outline-offset:2px}
.p:hover,.p.active,.p.pinned{box-shadow:inset 0 0 0 2px var(--acc);background-color:rgba(124,196,255,.18)}
.heat .p:hover,.heat .p.active,.heat .p.pinned{background:var(--heat)}
#tip{position:fixed;z-index:10;min-width:200px;max-width:min(420px,92vw);background:#1b1e25;border:1px solid #3a404d;border-radius:8px;padding:8px 10px;box-shadow:0 6px 24px rgba(0,0,0,.5);pointer-events:none}
#tip[hidden]{display:none}
#tip.pinned{pointer-events:auto;border-color:var(--acc)}
#tip .h{color:var(--mut);font-size:12px;margin-bottom:4px}
#tip table{border-collapse:collapse;width:100%}
#tip td{padding:2px 6px 2px 0;vertical-align:baseline}
#tip td.r{color:var(--mut);font-size:12px;text-align:right}
#tip td.w{font-weight:600;white-space:pre-wrap;word-break:break-all}
#tip td.s{font-variant-numeric:tabular-nums;text-align:right}
#tip td.g{color:var(--mut);font-size:12px}
#tip td.i{color:#6c7280;font-size:11px;text-align:right}
.help{color:var(--mut);font-size:12px;text-align:center;margin:8px 0 0}
main.withdeep{display:grid;grid-template-columns:minmax(0,1fr) minmax(260px,340px);gap:16px;align-items:start}
@media (max-width:820px){main.withdeep{grid-template-columns:1fr}}
`;
