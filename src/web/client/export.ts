/**
 * Client-side downloads: the overlay as a PNG (drawn on a canvas at a legible size) and as a self-contained
 * HTML file (the image inlined as a data URL, every patch a positioned box whose tooltip lists its top-k).
 * The JSON download is the server's result unchanged.
 */
import type { ResultJson, ViewName } from '../../types.js';
import { cellFontPx, displayWord, heatCss, patchTokens, topScoreRange, unit, wordsThatFit } from './view.js';

export interface DrawOptions {
  view: ViewName;
  words: boolean;
  heat: boolean;
}

/** Draws image + heat + words onto a new canvas whose long side is at least 1024 px. */
export function drawOverlay(img: HTMLImageElement, result: ResultJson, o: DrawOptions): HTMLCanvasElement {
  const W = result.image.width;
  const H = result.image.height;
  const scale = Math.min(4096 / Math.max(W, H), Math.max(1, 1024 / Math.max(W, H)));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(W * scale);
  canvas.height = Math.round(H * scale);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = scale < 3;
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  const tokens = patchTokens(result, o.view);
  const range = topScoreRange(tokens);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.lineJoin = 'round';
  for (const t of tokens) {
    const b = t.box!;
    const x = b.x * scale;
    const y = b.y * scale;
    const w = b.w * scale;
    const h = b.h * scale;
    if (o.heat) {
      ctx.fillStyle = heatCss(unit(t.top[0]?.score ?? 0, range.min, range.max), 0.6);
      ctx.fillRect(x, y, w, h);
    }
    ctx.strokeStyle = 'rgba(255,255,255,0.18)';
    ctx.lineWidth = 1;
    ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    if (!o.words) continue;
    const font = cellFontPx(w, h);
    const n = wordsThatFit(h, font, t.top.length);
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    for (let i = 0; i < n; i++) {
      const text = fit(ctx, displayWord(t.top[i].text), w - 2);
      const ty = y + h / 2 + (i - (n - 1) / 2) * font * 1.1;
      ctx.lineWidth = Math.max(2, font / 4);
      ctx.strokeStyle = 'rgba(0,0,0,0.85)';
      ctx.strokeText(text, x + w / 2, ty);
      ctx.fillStyle = i === 0 ? '#ffffff' : 'rgba(255,255,255,0.8)';
      ctx.fillText(text, x + w / 2, ty);
    }
  }
  return canvas;
}

function fit(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  let t = text;
  while (t.length > 1 && ctx.measureText(t).width > width) t = t.slice(0, -1);
  return t;
}

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A standalone HTML page: the image, positioned word boxes with top-k tooltips, and the result JSON. */
export function overlayHtml(imageDataUrl: string, result: ResultJson, o: DrawOptions): string {
  const W = result.image.width;
  const H = result.image.height;
  const tokens = patchTokens(result, o.view);
  const range = topScoreRange(tokens);
  const pct = (v: number, of: number): string => `${((v / of) * 100).toFixed(4)}%`;
  const cells = tokens
    .map((t) => {
      const b = t.box!;
      const tip = t.top.map((w) => `${displayWord(w.text)}  ${w.score.toFixed(4)}`).join('\n');
      const bg = o.heat
        ? `background:${heatCss(unit(t.top[0]?.score ?? 0, range.min, range.max), 0.6)};`
        : '';
      const label = o.words ? esc(displayWord(t.top[0]?.text ?? '')) : '';
      return (
        `<div class="c" style="left:${pct(b.x, W)};top:${pct(b.y, H)};width:${pct(b.w, W)};height:${pct(b.h, H)};${bg}"` +
        ` title="${esc(`row ${t.row}, col ${t.col}\n${tip}`)}">${label}</div>`
      );
    })
    .join('\n');
  const title = `imgtokens: ${result.image.name ?? 'image'} · ${result.model.id} · ${result.method}`;
  // The JSON is embedded as data; "<" is escaped so it cannot close the script element.
  const json = JSON.stringify(result).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{margin:0;background:#11131a;color:#e8eaf0;font:14px/1.4 system-ui,sans-serif;padding:16px}
h1{font-size:16px;margin:0 0 12px}.f{position:relative;display:inline-block;max-width:100%}
.f img{display:block;max-width:100%;width:min(100%,${Math.max(W, 768)}px);image-rendering:${Math.max(W, H) < 256 ? 'pixelated' : 'auto'}}
.c{position:absolute;box-sizing:border-box;border:1px solid rgba(255,255,255,.15);color:#fff;font-weight:600;
font-size:clamp(7px,1.1vw,14px);display:flex;align-items:center;justify-content:center;overflow:hidden;white-space:nowrap;
text-shadow:0 0 2px #000,0 0 3px #000}.c:hover{outline:2px solid #ffd84d;z-index:2}
</style></head><body>
<h1>${esc(title)}</h1>
<div class="f"><img alt="${esc(result.image.name ?? 'analysed image')}" src="${imageDataUrl}">
${cells}
</div>
<p>Hover a patch for its top-${result.k} words. ${o.view} view, ${tokens.length} tokens.</p>
<script type="application/json" id="imgtokens-result">${json}</script>
</body></html>
`;
}
