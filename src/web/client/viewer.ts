/**
 * The self-contained HTML export's bootstrap (src/render/html.ts): bundled at build time with esbuild
 * (scripts/build-viewer.mjs -> dist/web/viewer.js) and inlined into every exported page. It reads the result data
 * from <script type="application/json" id="data"> and mounts the one result viewer (client/result-view.ts, the same
 * component as the web page's) with the floating tooltip, one fitted word per patch, and the export's own controls:
 * the view buttons, the words and heat-map switches and the legend's score range.
 */
import { formatScore, mountResultView, tooltipDetail, type ResultData } from './result-view.js';

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

export function startViewer(): void {
  const data = JSON.parse(byId('data').textContent ?? '{}') as ResultData;
  const stage = byId('stage');
  const words = byId<HTMLInputElement>('words');
  const heat = byId<HTMLInputElement>('heat');
  const legend = byId('legend');
  const buttons = Array.from(document.querySelectorAll<HTMLButtonElement>('.seg button'));
  const view = mountResultView(byId('cells'), data, {
    stage,
    fill: 'label',
    detail: tooltipDetail(byId('tip')),
    deepBox: document.getElementById('deep'),
    heatAlpha: 0.8,
    words: words.checked,
    heat: heat.checked,
    onRange(lo, hi) {
      byId('lo').textContent = formatScore(lo);
      byId('hi').textContent = formatScore(hi);
    },
  });
  for (const b of buttons) {
    b.addEventListener('click', () => {
      view.clear();
      view.setView(b.dataset.view ?? '');
      for (const o of buttons) o.setAttribute('aria-pressed', String(o.dataset.view === view.view));
    });
  }
  words.addEventListener('change', () => view.setWords(words.checked));
  heat.addEventListener('change', () => {
    view.setHeat(heat.checked);
    legend.hidden = !heat.checked;
  });
}
