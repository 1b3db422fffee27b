/**
 * The page's HTML and CSS, served by src/server/app.ts at / and /style.css. They live in a TypeScript module
 * so that tsc carries them into dist/ with the rest of the package; the behaviour is in client/app.ts.
 * No external resources: the page works offline and under a strict Content-Security-Policy.
 * The method <select> and the words-per-token default are generated from the lens-method table.
 */
import { DEFAULT_K, DEFAULT_METHOD, LENS_METHOD_TABLE } from '../lens-methods.js';
import { DEEP_CSS } from './client/deep.js';

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** One <option> per lens method, the default selected; the description is the tooltip. */
const METHOD_OPTIONS = LENS_METHOD_TABLE.map(
  (m) =>
    `        <option value="${m.name}" title="${escapeHtml(m.description)}"${m.name === DEFAULT_METHOD ? ' selected' : ''}>${escapeHtml(m.label)}</option>`,
).join('\n');

export const INDEX_HTML = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imgtokens: what a vision-language model sees</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/fonts/noto-sans-sc/index.css">
<link rel="stylesheet" href="/fonts/noto-sans-kr/index.css">
<link rel="stylesheet" href="/style.css">
<script type="module" src="/js/app.js"></script>
</head>
<body>
<header class="top">
  <h1><span class="logo" aria-hidden="true">▦</span> imgtokens</h1>
  <p class="tagline">Each image token a VLM hands its language model, shown as the vocabulary words it is closest to.</p>
  <div class="model" id="model-status" role="status" aria-live="polite">
    <span class="dot" aria-hidden="true"></span><span id="model-name">connecting…</span>
  </div>
</header>
<div class="progress" id="progress" hidden>
  <div class="bar"><div class="fill" id="progress-fill"></div></div>
  <span id="progress-text" role="status" aria-live="polite"></span>
</div>
<main class="layout">
  <section class="panel controls" aria-label="Image and settings">
    <div class="drop" id="drop" tabindex="0" role="button" aria-describedby="drop-help">
      <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 3l5 5h-3v6h-4V8H7zM5 17h14v3H5z"/></svg>
      <strong>Drop, paste or pick an image</strong>
      <span id="drop-help" class="muted">JPEG, PNG, GIF or WebP · <span id="limit-text">up to 20 MiB</span></span>
      <input type="file" id="file" accept="image/jpeg,image/png,image/gif,image/webp" class="visually-hidden" tabindex="-1">
    </div>
    <fieldset class="examples">
      <legend>Or try an example</legend>
      <div id="examples" class="thumbs"></div>
    </fieldset>
    <div class="field">
      <label for="method">Method</label>
      <select id="method">
${METHOD_OPTIONS}
      </select>
    </div>
    <div class="field">
      <label for="k">Words per token <output id="k-out" for="k">${DEFAULT_K}</output></label>
      <input type="range" id="k" min="1" max="10" step="1" value="${DEFAULT_K}">
    </div>
    <div class="field">
      <label for="layers">Deep lens layers</label>
      <input type="text" id="layers" placeholder="off · all · 0-8 · 0,8,16" autocomplete="off" spellcheck="false"
             aria-describedby="layers-help">
      <p class="muted small" id="layers-help">Run the language model and read every chosen layer (logit and embedding lens).</p>
    </div>
    <fieldset class="field">
      <legend>View</legend>
      <div class="segmented" role="radiogroup">
        <label><input type="radio" name="view" value="base" checked><span>Base</span></label>
        <label><input type="radio" name="view" value="grid"><span>Grid</span></label>
      </div>
      <p class="muted small" id="view-help">Base: the whole image, resized to a square. Grid: the high-resolution crops.</p>
    </fieldset>
    <fieldset class="field checks">
      <legend>Show</legend>
      <label><input type="checkbox" id="words" checked> words</label>
      <label><input type="checkbox" id="heat"> heat map of top score</label>
      <label><input type="checkbox" id="ex-special" checked> hide special tokens</label>
      <label><input type="checkbox" id="ex-bytes" checked> hide byte tokens</label>
    </fieldset>
    <div class="field downloads">
      <span class="label">Download</span>
      <div class="buttons">
        <button type="button" id="dl-png" disabled>PNG</button>
        <button type="button" id="dl-html" disabled>HTML</button>
        <button type="button" id="dl-json" disabled>JSON</button>
      </div>
    </div>
  </section>
  <section class="panel stage-panel" aria-label="Image with token words">
    <div class="stage" id="stage">
      <div class="empty" id="empty">
        <p><strong>No image yet.</strong></p>
        <p class="muted">Pick an image or an example, paste one (Ctrl/⌘+V) or drop it anywhere on the page.</p>
      </div>
      <div class="frame" id="frame" hidden>
        <img id="photo" alt="">
        <div id="cells" class="cells" role="listbox" tabindex="0"
             aria-label="Image tokens. Use the arrow keys to move between patches."></div>
      </div>
    </div>
    <p class="caption" id="caption"></p>
    <div class="legend" id="legend" hidden>
      <span>low</span><span class="ramp" aria-hidden="true"></span><span>high top score</span>
    </div>
    <div class="deep" id="deep" aria-label="Deep lens: every layer of the language model" hidden></div>
  </section>
  <aside class="panel detail" aria-label="Selected token">
    <h2 id="detail-title">Token details</h2>
    <p class="muted small" id="detail-sub">Hover, tap or use the arrow keys on a patch.</p>
    <ol class="bars" id="bars" aria-live="polite"></ol>
    <div class="muted small" id="deep-detail"></div>
  </aside>
</main>
<div class="error" id="error" role="alert" hidden></div>
<footer class="foot muted small">Runs locally: images are analysed on this machine and are not stored.</footer>
</body>
</html>
`;

export const STYLE_CSS = /* css */ `${DEEP_CSS}
.stage-panel .deep { margin-top: 12px; }
#deep-detail div { margin-top: 4px; }
#layers { font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 8px; background: transparent; color: inherit; }
:root {
  --bg: #f4f5f8; --panel: #ffffff; --ink: #1b1e28; --muted: #5d6475; --line: #e1e4ec;
  --accent: #4f46e5; --accent-ink: #ffffff; --accent-soft: #eef0ff; --stage: #11131a; --danger: #b42318;
  --radius: 12px; --shadow: 0 1px 2px rgba(16,24,40,.06), 0 4px 16px rgba(16,24,40,.06);
  color-scheme: light;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0e1016; --panel: #171a23; --ink: #e8eaf0; --muted: #9aa1b2; --line: #2a2f3c;
          --accent: #8b85ff; --accent-ink: #0e1016; --accent-soft: #23264a; --stage: #07080c; --danger: #ff8a80;
          color-scheme: dark; }
}
* { box-sizing: border-box; }
html, body { margin: 0; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans SC Variable",
       "Noto Sans KR Variable", sans-serif;
       background: var(--bg); color: var(--ink); min-height: 100vh; }
button, input, select { font: inherit; color: inherit; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
                   white-space: nowrap; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }

.top { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 18px; padding: 14px 20px;
       background: var(--panel); border-bottom: 1px solid var(--line); }
.top h1 { margin: 0; font-size: 20px; letter-spacing: -.01em; }
.logo { color: var(--accent); }
.tagline { margin: 0; color: var(--muted); flex: 1 1 300px; font-size: 14px; }
.model { display: inline-flex; align-items: center; gap: 8px; padding: 4px 12px; border-radius: 999px;
         background: var(--accent-soft); font-size: 13px; font-weight: 600; max-width: 100%; overflow: hidden; }
.model .dot { width: 8px; height: 8px; border-radius: 50%; background: #f0b429; flex: none; }
.model.ready .dot { background: #22c55e; }
.model.failed .dot { background: var(--danger); }
#model-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }

.progress { display: flex; align-items: center; gap: 12px; padding: 8px 20px; background: var(--accent-soft);
            font-size: 13px; }
.progress[hidden] { display: none; }
.progress .bar { flex: 0 0 200px; height: 6px; border-radius: 3px; background: var(--line); overflow: hidden; }
.progress .fill { height: 100%; width: 30%; background: var(--accent); border-radius: 3px; transition: width .2s; }
.progress .fill.indeterminate { animation: slide 1.1s ease-in-out infinite; }
@keyframes slide { from { transform: translateX(-100%); } to { transform: translateX(340%); } }
@media (prefers-reduced-motion: reduce) { .progress .fill.indeterminate { animation: none; width: 100%; opacity: .5; } }

.layout { display: grid; grid-template-columns: 290px minmax(0, 1fr) 300px; gap: 16px; padding: 16px 20px;
          align-items: start; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius);
         box-shadow: var(--shadow); padding: 16px; }
.controls { display: flex; flex-direction: column; gap: 16px; }
fieldset { border: 0; padding: 0; margin: 0; min-width: 0; }
legend, .field > label, .label { display: block; font-weight: 600; font-size: 13px; margin-bottom: 6px;
                                 text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.field > label { display: flex; justify-content: space-between; }
output { color: var(--ink); font-variant-numeric: tabular-nums; }
select { width: 100%; padding: 8px 10px; border-radius: 8px; border: 1px solid var(--line); background: var(--panel); }
input[type=range] { width: 100%; accent-color: var(--accent); }
input[type=checkbox], input[type=radio] { accent-color: var(--accent); }

.drop { display: flex; flex-direction: column; align-items: center; gap: 4px; padding: 18px 12px; text-align: center;
        border: 2px dashed var(--line); border-radius: var(--radius); cursor: pointer; transition: .15s; }
.drop svg { width: 28px; height: 28px; fill: var(--accent); }
.drop:hover, .drop.over { border-color: var(--accent); background: var(--accent-soft); }
body.dragging .drop { border-color: var(--accent); background: var(--accent-soft); }
.thumbs { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; }
.thumbs button { padding: 0; border: 2px solid transparent; border-radius: 8px; overflow: hidden; cursor: pointer;
                 aspect-ratio: 1; background: var(--line); }
.thumbs button[aria-pressed=true] { border-color: var(--accent); }
.thumbs img { width: 100%; height: 100%; object-fit: cover; display: block; }

.segmented { display: inline-flex; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.segmented label { position: relative; }
.segmented input { position: absolute; opacity: 0; inset: 0; margin: 0; cursor: pointer; }
.segmented span { display: block; padding: 6px 16px; font-size: 14px; }
.segmented input:checked + span { background: var(--accent); color: var(--accent-ink); font-weight: 600; }
.segmented input:focus-visible + span { outline: 3px solid var(--accent); outline-offset: -3px; }
.segmented input:disabled + span { opacity: .4; }
.field.checks > label { display: flex; justify-content: flex-start; gap: 8px; align-items: center; padding: 2px 0;
                        margin: 0; text-transform: none; letter-spacing: 0; font-size: 15px; font-weight: 400;
                        color: var(--ink); cursor: pointer; }
.buttons { display: flex; gap: 8px; }
button { border: 1px solid var(--line); background: var(--panel); border-radius: 8px; padding: 7px 14px;
         font-weight: 600; cursor: pointer; }
.buttons button { flex: 1; background: var(--accent); color: var(--accent-ink); border-color: transparent; }
button:disabled { opacity: .45; cursor: not-allowed; }

.stage { background: var(--stage); border-radius: 10px; min-height: 360px; display: grid; place-items: center;
         padding: 12px; overflow: hidden; }
.empty { color: #c9cedb; text-align: center; padding: 40px 16px; }
.empty .muted { color: #8a91a3; }
.frame { position: relative; display: inline-block; max-width: 100%; line-height: 0; }
.frame[hidden] { display: none; }
#photo { display: block; max-width: 100%; max-height: 72vh; width: auto; height: auto; border-radius: 4px; }
#photo.pixelated { image-rendering: pixelated; }
.cells { position: absolute; inset: 0; outline: none; }
.cells:focus-visible { outline: 3px solid var(--accent); outline-offset: 3px; }
.cell { position: absolute; display: flex; flex-direction: column; align-items: center; justify-content: center;
        overflow: hidden; color: #fff; line-height: 1.05; text-align: center; cursor: crosshair;
        border: 1px solid rgba(255,255,255,.14); font-weight: 600;
        text-shadow: 0 0 2px #000, 0 0 3px #000, 0 1px 2px #000; }
.cell span { display: block; max-width: 100%; white-space: nowrap; overflow: hidden; text-overflow: clip; padding: 0 1px; }
.cell span + span { font-weight: 500; opacity: .82; }
.nowords .cell span { display: none; }
.heat .cell { background: var(--heat); }
.cell.active { outline: 2px solid #ffd84d; outline-offset: -2px; z-index: 2; box-shadow: 0 0 0 9999px rgba(0,0,0,.18); }
.cell.pinned { outline: 3px solid #ffd84d; outline-offset: -3px; z-index: 3; }
.caption { margin: 10px 2px 0; font-size: 13px; color: var(--muted); min-height: 1.4em; }
.legend { display: flex; align-items: center; gap: 8px; font-size: 12px; color: var(--muted); margin: 6px 2px 0; }
.legend[hidden] { display: none; }
.ramp { flex: 0 0 160px; height: 8px; border-radius: 4px;
        background: linear-gradient(90deg, #000004, #3b0f70, #8c2981, #de4968, #fe9f6d, #fcfdbf); }

.detail h2 { margin: 0 0 2px; font-size: 16px; }
.bars { list-style: none; margin: 12px 0 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.bars li { display: grid; grid-template-columns: minmax(0, 7.5em) 1fr 4.2em; align-items: center; gap: 8px; font-size: 14px; }
.bars .w { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace, "Noto Sans SC Variable",
           "Noto Sans KR Variable"; overflow: hidden;
           text-overflow: ellipsis; white-space: nowrap; }
.bars .track { height: 12px; background: var(--accent-soft); border-radius: 6px; overflow: hidden; }
.bars .fillbar { height: 100%; background: var(--accent); border-radius: 6px; min-width: 3px; }
.bars li:first-child .w { font-weight: 700; }
.bars .s { text-align: right; font-variant-numeric: tabular-nums; color: var(--muted); font-size: 13px; }
.bars .id { color: var(--muted); font-size: 11px; }

.error { position: fixed; left: 50%; bottom: 20px; transform: translateX(-50%); max-width: min(560px, calc(100vw - 32px));
         background: var(--danger); color: #fff; padding: 12px 16px; border-radius: 10px; box-shadow: var(--shadow);
         z-index: 10; }
.error[hidden] { display: none; }
.error strong { display: block; }
.foot { text-align: center; padding: 8px 20px 24px; }

@media (max-width: 1180px) {
  .layout { grid-template-columns: 280px minmax(0, 1fr); }
  .detail { grid-column: 2; }
}
@media (max-width: 760px) {
  .top { padding: 12px 14px; }
  .tagline { display: none; }
  .layout { grid-template-columns: minmax(0, 1fr); padding: 12px; gap: 12px; }
  .detail { grid-column: auto; }
  .stage { min-height: 240px; padding: 6px; }
  .stage-panel { padding: 10px; }
  body.has-image .stage-panel { order: -2; }
  body.has-image .detail { order: -1; }
  .thumbs { grid-template-columns: repeat(4, 1fr); }
  .progress .bar { flex-basis: 110px; }
}
`;
