/**
 * The self-contained HTML export's viewer (src/render/html.ts): typed browser code, bundled at build time with
 * esbuild (scripts/build-viewer.mjs -> dist/web/viewer.js) and inlined into every exported page. It reads the page
 * data from <script type="application/json" id="data">, draws one layer of patches per view and gives them the
 * page's interactions: hover, focus (Tab, then arrow keys) or tap shows a token's top-k words with scores, click or
 * Enter pins the tooltip, Escape closes it; a switch picks the view; the heat map uses the web page's colour ramp
 * (view.ts heatCss). When the result carries the deep lens (issue 12), the deep-lens controls (client/deep-ui.ts)
 * pick a layer and a lens and the patches show that layer's words; results without it look as before.
 * Token text is only ever written with textContent.
 */
import { labelFit, type DeepPage } from './deep.js';
import { mountDeep, type DeepControls } from './deep-ui.js';
import { heatCss } from './view.js';

/** [word, score, id, gloss] */
type PageWord = [string, number, number, string];
/** [index, row, col, x%, y%, w%, h%, label, darkText(1/0), font size as a fraction of the patch height, top] */
type PagePatch = [number, number, number, number, number, number, number, string, number, number, PageWord[]];

/** What src/render/html.ts writes into #data. */
export interface PageData {
  method: string;
  /** Image width / height (label sizing for the deep lens's words). */
  aspect?: number;
  /** The deep lens, when the result has it (src/web/client/deep.ts toDeepPage). */
  deep?: DeepPage;
  views: Array<{
    name: string;
    title: string;
    rows: number;
    cols: number;
    lo: number;
    hi: number;
    p: PagePatch[];
  }>;
}
type PageView = PageData['views'][number];

/** Scores as the page shows them: 4 decimals, exponent form for very large or small values. */
export function formatScore(s: number): string {
  return Math.abs(s) >= 1000 || (s !== 0 && Math.abs(s) < 0.001) ? s.toExponential(3) : s.toFixed(4);
}

const ARROWS: Record<string, [number, number]> = {
  ArrowLeft: [0, -1],
  ArrowRight: [0, 1],
  ArrowUp: [-1, 0],
  ArrowDown: [1, 0],
};

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

export function startViewer(): void {
  const data = JSON.parse(byId('data').textContent ?? '{}') as PageData;
  const stage = byId<HTMLDivElement>('stage');
  const tip = byId<HTMLDivElement>('tip');
  const patchInfo = new WeakMap<Element, { q: PagePatch; v: PageView }>();
  const positions = new WeakMap<Element, Map<string, HTMLElement>>();
  const layers = new Map<string, HTMLDivElement>();
  let pinned: HTMLElement | null = null;
  let shown: HTMLElement | null = null;

  for (const v of data.views) {
    const layer = document.createElement('div');
    layer.className = 'layer';
    layer.dataset.view = v.name;
    layer.setAttribute('role', 'group');
    layer.setAttribute('aria-label', v.title);
    const byPos = new Map<string, HTMLElement>();
    for (const q of v.p) {
      const [index, row, col, x, y, w, h, label, dark, f, top] = q;
      const el = document.createElement('div');
      el.className = 'p' + (dark ? ' d' : '');
      el.style.left = `${x}%`;
      el.style.top = `${y}%`;
      el.style.width = `${w}%`;
      el.style.height = `${h}%`;
      el.style.setProperty('--f', String(f));
      const t = top.length ? (top[0][1] - v.lo) / (v.hi - v.lo || 1) : 0;
      el.style.setProperty('--heat', heatCss(t, 0.8));
      if (t > 0.62) el.classList.add('hd');
      el.dataset.i = String(index);
      el.dataset.row = String(row);
      el.dataset.col = String(col);
      el.tabIndex = -1;
      el.setAttribute('role', 'button');
      el.setAttribute(
        'aria-label',
        `row ${row}, column ${col}: ${label || 'no word'}` +
          (top.length ? ` (${formatScore(top[0][1])})` : ''),
      );
      const span = document.createElement('span');
      span.textContent = label;
      el.appendChild(span);
      patchInfo.set(el, { q, v });
      layer.appendChild(el);
      byPos.set(`${row},${col}`, el);
    }
    positions.set(layer, byPos);
    const first = layer.querySelector<HTMLElement>('.p');
    if (first) first.tabIndex = 0;
    stage.appendChild(layer);
    layers.set(v.name, layer);
  }

  function fill(el: HTMLElement): void {
    const info = patchInfo.get(el);
    if (!info) return;
    const [index, row, col, , , , , , , , own] = info.q;
    const layerTop = deep?.tops()?.[index];
    const top: PageWord[] = layerTop ? layerTop.map(([w, s, id]) => [w, s, id, '']) : own;
    tip.textContent = '';
    const h = document.createElement('div');
    h.className = 'h';
    h.textContent =
      `${info.v.title.split(' · ')[0]} · row ${row}, col ${col} · token #${index}` +
      (layerTop ? '' : ` · ${data.method}`);
    tip.appendChild(h);
    for (const line of deep?.describe(index) ?? []) {
      const d = document.createElement('div');
      d.className = 'h';
      d.textContent = line;
      tip.appendChild(d);
    }
    const table = document.createElement('table');
    top.forEach(([word, score, id, gloss], k) => {
      const tr = table.insertRow();
      const cells: Array<[string, string]> = [
        ['r', String(k + 1)],
        ['w', word === '' ? '(empty)' : word],
        ['g', gloss],
        ['s', formatScore(score)],
        ['i', `#${id}`],
      ];
      for (const [cls, text] of cells) {
        const td = tr.insertCell();
        td.className = cls;
        td.textContent = text;
      }
    });
    tip.appendChild(table);
  }
  function place(el: HTMLElement): void {
    const r = el.getBoundingClientRect();
    tip.hidden = false;
    const tw = tip.offsetWidth;
    const th = tip.offsetHeight;
    let x = r.right + 8;
    let y = r.top;
    if (x + tw > innerWidth - 4) x = r.left - tw - 8;
    if (x < 4) x = Math.min(Math.max(4, r.left), innerWidth - tw - 4);
    if (y + th > innerHeight - 4) y = Math.max(4, innerHeight - th - 4);
    tip.style.left = `${x}px`;
    tip.style.top = `${y}px`;
  }
  function show(el: HTMLElement): void {
    if (shown && shown !== el) shown.classList.remove('on');
    shown = el;
    el.classList.add('on');
    fill(el);
    place(el);
  }
  function hide(): void {
    shown?.classList.remove('on');
    shown = null;
    pinned = null;
    tip.hidden = true;
    tip.classList.remove('pinned');
  }
  function pin(el: HTMLElement): void {
    if (pinned === el) {
      hide();
      return;
    }
    pinned = el;
    show(el);
    tip.classList.add('pinned');
  }
  const patchOf = (e: Event): HTMLElement | null =>
    e.target instanceof Element ? e.target.closest<HTMLElement>('.p') : null;
  stage.addEventListener('mouseover', (e) => {
    const el = patchOf(e);
    if (el && !pinned) show(el);
  });
  stage.addEventListener('mouseleave', () => {
    if (!pinned) hide();
  });
  stage.addEventListener('click', (e) => {
    const el = patchOf(e);
    if (el) {
      el.focus({ preventScroll: true });
      pin(el);
    }
  });
  stage.addEventListener('focusin', (e) => {
    const el = patchOf(e);
    if (!el) return;
    el.parentElement?.querySelectorAll<HTMLElement>('.p[tabindex="0"]').forEach((p) => (p.tabIndex = -1));
    el.tabIndex = 0;
    if (!pinned || pinned !== el) {
      pinned = null;
      tip.classList.remove('pinned');
      show(el);
    }
  });
  stage.addEventListener('focusout', (e) => {
    if (!stage.contains(e.relatedTarget as Node | null) && !pinned) hide();
  });
  stage.addEventListener('keydown', (e) => {
    const el = patchOf(e);
    if (!el) return;
    const d = ARROWS[e.key];
    if (d) {
      const byPos = el.parentElement ? positions.get(el.parentElement) : undefined;
      byPos?.get(`${Number(el.dataset.row) + d[0]},${Number(el.dataset.col) + d[1]}`)?.focus();
      e.preventDefault();
    } else if (e.key === 'Enter' || e.key === ' ') {
      pin(el);
      e.preventDefault();
    } else if (e.key === 'Escape') {
      hide();
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') hide();
  });
  document.addEventListener('click', (e) => {
    const t = e.target as Node | null;
    if (pinned && !stage.contains(t) && !tip.contains(t)) hide();
  });
  addEventListener('resize', () => {
    if (shown) place(shown);
  });
  addEventListener(
    'scroll',
    () => {
      if (shown) place(shown);
    },
    { passive: true },
  );

  const legend = byId('legend');
  function selectView(name: string): void {
    hide();
    for (const [n, layer] of layers) layer.hidden = n !== name;
    document
      .querySelectorAll<HTMLButtonElement>('.seg button')
      .forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.view === name)));
    const v = data.views.find((x) => x.name === name);
    if (v) {
      byId('lo').textContent = formatScore(v.lo);
      byId('hi').textContent = formatScore(v.hi);
    }
  }
  document
    .querySelectorAll<HTMLButtonElement>('.seg button')
    .forEach((b) => b.addEventListener('click', () => selectView(b.dataset.view ?? '')));
  byId<HTMLInputElement>('words').addEventListener('change', (e) =>
    stage.classList.toggle('nowords', !(e.target as HTMLInputElement).checked),
  );
  byId<HTMLInputElement>('heat').addEventListener('change', (e) => {
    const on = (e.target as HTMLInputElement).checked;
    stage.classList.toggle('heat', on);
    legend.hidden = !on;
  });
  if (data.views.length) selectView(data.views[0].name);

  // --- the deep lens --------------------------------------------------------------------------------------
  let deep: DeepControls | null = null;
  const deepBox = document.getElementById('deep');
  if (data.deep && deepBox) {
    const aspect = data.aspect ?? 1;
    const shownView = (): PageView | undefined => {
      const open = Array.from(layers).find(([, l]) => !l.hidden);
      return data.views.find((v) => v.name === open?.[0]);
    };
    deep = mountDeep(deepBox, data.deep, {
      showWords(tops) {
        for (const v of data.views) {
          const layer = layers.get(v.name);
          if (!layer) continue;
          const els = Array.from(layer.children) as HTMLElement[];
          const labels = v.p.map(([index, , , , , , , label]) =>
            tops ? (tops[index]?.[0]?.[0] ?? '') : label,
          );
          const scores = v.p.map(([index, , , , , , , , , , top]) =>
            tops ? tops[index]?.[0]?.[1] : top[0]?.[1],
          );
          const finite = scores.filter((x): x is number => x !== undefined && Number.isFinite(x));
          const lo = !tops ? v.lo : finite.length ? Math.min(...finite) : 0;
          const hi = !tops ? v.hi : finite.length ? Math.max(...finite) : 1;
          // As html.ts: each label as large as fits, capped at 1.25x the view's median so short words stay modest.
          const fits = v.p.map(([, , , , , w, h], j) => labelFit(labels[j], (w / h) * aspect));
          const sorted = fits.filter((_, j) => labels[j] !== '').sort((a, b) => a - b);
          const cap = sorted.length ? 1.25 * sorted[Math.floor(sorted.length / 2)] : 1;
          v.p.forEach((q, j) => {
            const e = els[j];
            const [, row, col, , , , , , , f] = q;
            const label = labels[j];
            (e.firstChild as HTMLElement).textContent = label;
            e.style.setProperty('--f', String(tops ? Math.min(fits[j], cap) : f));
            const s = scores[j];
            const t = s === undefined ? 0 : (s - lo) / (hi - lo || 1);
            e.style.setProperty('--heat', heatCss(t, 0.8));
            e.classList.toggle('hd', t > 0.62);
            e.setAttribute(
              'aria-label',
              `row ${row}, column ${col}: ${label || 'no word'}` +
                (s === undefined ? '' : ` (${formatScore(s)})`),
            );
          });
          if (shownView() === v) {
            byId('lo').textContent = formatScore(lo);
            byId('hi').textContent = formatScore(hi);
          }
        }
        if (shown) fill(shown);
      },
      showHeat(heat) {
        stage.classList.toggle('dheat', heat !== null);
        for (const v of data.views) {
          const els = Array.from(layers.get(v.name)?.children ?? []) as HTMLElement[];
          v.p.forEach((q, j) => {
            const t = heat?.[q[0]];
            if (t === null || t === undefined) els[j].style.removeProperty('--dheat');
            else els[j].style.setProperty('--dheat', heatCss(t, 0.8));
          });
        }
      },
      grid() {
        const v = shownView() ?? data.views[0];
        return {
          rows: v?.rows ?? 0,
          cols: v?.cols ?? 0,
          cells: (v?.p ?? []).map(([index, row, col]) => ({ index, row, col })),
        };
      },
    });
    document
      .querySelectorAll<HTMLButtonElement>('.seg button')
      .forEach((b) => b.addEventListener('click', () => deep?.refresh()));
  }
}
