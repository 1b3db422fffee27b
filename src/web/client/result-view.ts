/**
 * The one result viewer (issue 10, item 4): the web page (client/app.ts) and the self-contained HTML export
 * (client/viewer.ts, bundled and inlined by src/render/html.ts) both mount this component for everything that shows
 * a result: the word cells over the picture, the heat map, the words switch, the view switch, hover / tap / focus and
 * keyboard navigation (arrows, Home/End, Enter or Space pins, Escape clears), the detail (a floating tooltip in the
 * export, the side panel on the page: two renderers of the same state, both here) and the deep-lens controls
 * (client/deep-ui.ts) when the result carries them.
 *
 * The data is ResultData, built by resultData() from a ResultJson: on the server for the export (with each patch's
 * dark-text flag, which needs the pixels) and in the browser for the page. Token text is only written with
 * textContent.
 *
 * Markup, the same in both: the cells host (the element passed to mount, e.g. #cells) is a focusable listbox with
 * classes `cells layer`, `data-view` = the shown view and aria-activedescendant; each patch is
 * `<div class="cell p" id="cell-<token index>" data-i=<token index> data-row data-col role="option">` with its words
 * in <span>s, `--heat` (heat-map colour) and `--dheat` (the deep lens's heat) custom properties, `active` / `pinned`
 * classes. The stage element gets `heat`, `nowords` and `dheat` classes.
 */
import type { ResultJson } from '../../types.js';
import { labelFit, type DeepPage, type DeepWord } from './deep.js';
import { mountDeep, type DeepControls } from './deep-ui.js';
import {
  barLengths,
  cellFontPx,
  displayWord,
  heatCss,
  move,
  rangeOfScores,
  unit,
  wordsThatFit,
  type Move,
} from './view.js';

/** [word (display form, '' for an empty token), score, id, gloss] */
export type CellWord = [string, number, number, string];
/** [token index, row, col, x%, y%, w%, h% (of the image), dark text (1/0), top-k] */
export type CellData = [number, number, number, number, number, number, number, number, CellWord[]];

export interface ViewData {
  name: string;
  /** Shown in the tooltip's header (its part before " · ") and as the cells' aria-label. */
  title: string;
  rows: number;
  cols: number;
  p: CellData[];
}

/** What both viewers show: one result, its patch tokens per view. */
export interface ResultData {
  method: string;
  /** Image width / height (label sizing). */
  aspect: number;
  views: ViewData[];
  /** The deep lens, when the result has it (client/deep.ts toDeepPage). */
  deep?: DeepPage;
}

/** The view's cells from a result. `dark` says whether a patch's label reads better in black (export only). */
export function resultData(
  result: ResultJson,
  views: ReadonlyArray<{ name: string; title: string; rows: number; cols: number }>,
  deep?: DeepPage,
  dark?: (box: { x: number; y: number; w: number; h: number }) => boolean,
): ResultData {
  const W = result.image.width;
  const H = result.image.height;
  const pct = (v: number, of: number): number => Math.round((v / of) * 1e5) / 1e3;
  return {
    method: result.method,
    aspect: W / H,
    deep,
    views: views.map((v) => ({
      ...v,
      p: result.tokens
        .filter((t) => t.view === v.name && t.kind === 'patch' && t.box !== null)
        .map((t): CellData => {
          const b = t.box!;
          return [
            t.index,
            t.row,
            t.col,
            pct(b.x, W),
            pct(b.y, H),
            pct(b.w, W),
            pct(b.h, H),
            dark?.(b) ? 1 : 0,
            t.top.map((w): CellWord => [displayWord(w.text), w.score, w.id, w.gloss ?? '']),
          ];
        }),
    })),
  };
}

/** Scores as the tooltip shows them: 4 decimals, exponent form for very large or small values. */
export function formatScore(s: number): string {
  return Math.abs(s) >= 1000 || (s !== 0 && Math.abs(s) < 0.001) ? s.toExponential(3) : s.toFixed(4);
}

/** One patch as the detail renderers get it. */
export interface Shown {
  el: HTMLElement;
  view: ViewData;
  cell: CellData;
  /** Its words now: the deep-lens layer's when one is shown (no gloss), else the result's. */
  words: CellWord[];
  /** True when the words are a deep-lens layer's. */
  deep: boolean;
  /** The deep lens's lines for this token (layer, first layer of the final word, lookup rank). */
  lines: string[];
  /** Every cell's current words in the view (bar lengths compare across patches). */
  viewWords: CellWord[][];
  method: string;
}

/** How a viewer shows the patch under the pointer / focus (`active`) and the pinned one. */
export interface DetailRenderer {
  show(active: Shown | null, pinned: Shown | null): void;
  /**
   * True when the detail keeps the last patch after the pointer or focus leaves the picture (the page's panel); a
   * tooltip closes then (or goes back to the pinned patch).
   */
  sticky?: boolean;
  /** Called once at mount with the view; returns what undoes it. */
  bind?(view: ResultView, stage: HTMLElement): () => void;
}

export interface MountOptions {
  /** The element that gets the heat / nowords / dheat classes (the picture's container). */
  stage: HTMLElement;
  /** 'label': one word per patch, sized by CSS (`--f`, a share of the patch height); 'stack': as many as fit. */
  fill: 'label' | 'stack';
  detail: DetailRenderer;
  /** Where the deep-lens controls go, when the result has the deep lens. */
  deepBox?: HTMLElement | null;
  /** Heat-map alpha (the page's lighter stage: 0.6; the export: 0.8). */
  heatAlpha?: number;
  view?: string;
  words?: boolean;
  heat?: boolean;
  /** 'stack' only: at most this many words per patch. */
  wordsPerCell?: number;
  /** The shown view's top-score range, whenever it changes (the export's legend). */
  onRange?(lo: number, hi: number): void;
}

export interface ResultView {
  readonly view: string;
  setView(name: string): void;
  setWords(on: boolean): void;
  setHeat(on: boolean): void;
  setWordsPerCell(n: number): void;
  /** Re-fits the words ('stack') after the picture changed size. */
  layout(): void;
  /** Unpins and clears the detail. */
  clear(): void;
  /** The deep-lens layer's words shown now, or null. */
  deepTops(): DeepWord[][] | null;
  destroy(): void;
}

const KEYS: Record<string, Move> = {
  ArrowLeft: 'left',
  ArrowRight: 'right',
  ArrowUp: 'up',
  ArrowDown: 'down',
  Home: 'home',
  End: 'end',
};

export function mountResultView(host: HTMLElement, data: ResultData, o: MountOptions): ResultView {
  const alpha = o.heatAlpha ?? 0.8;
  const none: ViewData = { name: '', title: '', rows: 0, cols: 0, p: [] };
  let view: ViewData = data.views.find((v) => v.name === o.view) ?? data.views[0] ?? none;
  let perCell = o.wordsPerCell ?? 3;
  let cells: HTMLElement[] = [];
  /** The shown view's patches on their row/col grid (keyboard moves, view.ts move). */
  let grid: Array<{ row: number; col: number }> = [];
  let active = -1;
  let pinned = -1;
  let deep: DeepControls | null = null;
  let ready = false;
  let tops: DeepWord[][] | null = null;
  let dheat: Array<number | null> | null = null;

  host.classList.add('cells', 'layer');
  host.setAttribute('role', 'listbox');
  host.tabIndex = 0;
  o.stage.classList.toggle('nowords', o.words === false);
  o.stage.classList.toggle('heat', o.heat === true);

  const wordsOf = (q: CellData): CellWord[] => {
    if (!tops) return q[8];
    return (tops[q[0]] ?? []).map(([w, s, id]): CellWord => [w, s, id, '']);
  };

  function shown(j: number): Shown | null {
    const el = cells[j];
    if (!el) return null;
    const q = view.p[j];
    return {
      el,
      view,
      cell: q,
      words: wordsOf(q),
      deep: tops !== null,
      lines: deep?.describe(q[0]) ?? [],
      viewWords: view.p.map(wordsOf),
      method: data.method,
    };
  }
  const detail = (): void => o.detail.show(shown(active), shown(pinned));

  /** Cells of the shown view, replacing the previous view's. */
  function build(): void {
    host.dataset.view = view.name;
    host.setAttribute(
      'aria-label',
      `${view.title}: image tokens. Use the arrow keys to move between patches.`,
    );
    cells = view.p.map((q) => {
      const [index, row, col, x, y, w, h, dark] = q;
      const el = document.createElement('div');
      el.className = 'cell p' + (dark ? ' d' : '');
      el.id = `cell-${index}`;
      el.setAttribute('role', 'option');
      el.setAttribute('aria-selected', 'false');
      el.tabIndex = -1;
      el.dataset.i = String(index);
      el.dataset.row = String(row);
      el.dataset.col = String(col);
      el.style.left = `${x}%`;
      el.style.top = `${y}%`;
      el.style.width = `${w}%`;
      el.style.height = `${h}%`;
      return el;
    });
    grid = view.p.map(([, row, col]) => ({ row, col }));
    host.replaceChildren(...cells);
    host.removeAttribute('aria-activedescendant');
    active = -1;
    pinned = -1;
    drawWords();
    drawDeepHeat();
    detail();
  }

  /** Words, labels, heat colours and aria-labels of every cell, for the words shown now. */
  function drawWords(): void {
    const words = view.p.map(wordsOf);
    const finite = words
      .map((w) => w[0]?.[1])
      .filter((s): s is number => s !== undefined && Number.isFinite(s));
    const lo = finite.length ? Math.min(...finite) : 0;
    const hi = finite.length ? Math.max(...finite) : 1;
    // 'label': each label as large as fits, capped at 1.25x the view's median so short words stay modest.
    const fits = view.p.map((q, j) => labelFit(words[j][0]?.[0] ?? '', (q[5] / q[6]) * data.aspect));
    const sorted = fits.filter((_, j) => (words[j][0]?.[0] ?? '') !== '').sort((a, b) => a - b);
    const cap = sorted.length ? 1.25 * sorted[Math.floor(sorted.length / 2)] : 1;
    cells.forEach((el, j) => {
      const [, row, col] = view.p[j];
      const top = words[j];
      const s = top[0]?.[1];
      const t = s === undefined ? 0 : unit(s, lo, hi);
      el.style.setProperty('--heat', heatCss(t, alpha));
      el.classList.toggle('hd', t > 0.62);
      el.style.setProperty('--f', String(Math.min(fits[j], cap)));
      const names = top.slice(0, 3).map(([w]) => w || '∅');
      el.setAttribute('aria-label', `row ${row + 1}, column ${col + 1}: ${names.join(', ') || 'no word'}`);
    });
    o.onRange?.(lo, hi);
    layout();
  }

  /** Fills each cell: its top word ('label'), or as many of its words as fit at the size shown ('stack'). */
  function layout(): void {
    if (o.fill === 'label') {
      cells.forEach((el, j) => {
        const span = document.createElement('span');
        span.textContent = wordsOf(view.p[j])[0]?.[0] ?? '';
        el.replaceChildren(span);
      });
      return;
    }
    const rect = host.getBoundingClientRect();
    if (rect.width === 0) return;
    cells.forEach((el, j) => {
      const q = view.p[j];
      const top = wordsOf(q);
      const w = (q[5] / 100) * rect.width;
      const h = (q[6] / 100) * rect.height;
      const font = cellFontPx(w, h);
      el.style.fontSize = `${font}px`;
      const n = wordsThatFit(h, font, Math.min(top.length, perCell));
      el.replaceChildren(
        ...top.slice(0, n).map(([word]) => {
          const s = document.createElement('span');
          s.textContent = word || '∅';
          return s;
        }),
      );
    });
  }

  function drawDeepHeat(): void {
    o.stage.classList.toggle('dheat', dheat !== null);
    cells.forEach((el, j) => {
      const t = dheat?.[view.p[j][0]];
      if (t === null || t === undefined) el.style.removeProperty('--dheat');
      else el.style.setProperty('--dheat', heatCss(t, alpha));
    });
  }

  function setActive(j: number): void {
    const prev = cells[active];
    prev?.classList.remove('active');
    prev?.setAttribute('aria-selected', 'false');
    active = j;
    const el = cells[j];
    if (el) {
      el.classList.add('active');
      el.setAttribute('aria-selected', 'true');
      host.setAttribute('aria-activedescendant', el.id);
    } else host.removeAttribute('aria-activedescendant');
    detail();
  }
  function togglePin(j: number): void {
    cells[pinned]?.classList.remove('pinned');
    pinned = pinned === j ? -1 : j;
    cells[pinned]?.classList.add('pinned');
    setActive(j);
  }
  function clear(): void {
    cells[pinned]?.classList.remove('pinned');
    pinned = -1;
    setActive(-1);
  }

  const cellOf = (e: Event): number => {
    const el = e.target instanceof Element ? e.target.closest<HTMLElement>('.cell') : null;
    return el ? cells.indexOf(el) : -1;
  };
  const onOver = (e: Event): void => {
    const j = cellOf(e);
    if (j >= 0) setActive(j);
  };
  /** The pointer or the focus left the picture: back to the pinned patch, or (a tooltip) none. */
  const leave = (): void => {
    if (pinned >= 0 || !o.detail.sticky) setActive(pinned);
  };
  const onLeave = (): void => {
    if (!host.contains(document.activeElement)) leave();
  };
  const onClick = (e: Event): void => {
    const j = cellOf(e);
    if (j >= 0) togglePin(j);
  };
  const onFocusIn = (e: FocusEvent): void => {
    // Focus stays on the listbox; a focused patch (click, or focus() on it) makes it the active one.
    const j = cellOf(e);
    if (j >= 0) {
      if (active !== j) setActive(j);
      host.focus({ preventScroll: true });
    } else if (active < 0 && cells.length) setActive(pinned >= 0 ? pinned : 0);
  };
  const onFocusOut = (e: FocusEvent): void => {
    if (!host.contains(e.relatedTarget as Node | null)) leave();
  };
  const onKey = (e: KeyboardEvent): void => {
    const dir = KEYS[e.key];
    if (dir) {
      e.preventDefault();
      const to = move(grid, active, dir);
      if (to < 0) return;
      setActive(to);
      cells[to]?.scrollIntoView?.({ block: 'nearest', inline: 'nearest' });
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      if (active >= 0) togglePin(active);
    } else if (e.key === 'Escape') clear();
  };
  host.addEventListener('mouseover', onOver);
  host.addEventListener('mouseleave', onLeave);
  host.addEventListener('click', onClick);
  host.addEventListener('focusin', onFocusIn);
  host.addEventListener('focusout', onFocusOut);
  host.addEventListener('keydown', onKey);
  const resize =
    o.fill === 'stack' && typeof ResizeObserver !== 'undefined' ? new ResizeObserver(layout) : null;
  resize?.observe(host);

  const api: ResultView = {
    get view() {
      return view.name;
    },
    setView(name) {
      const v = data.views.find((x) => x.name === name);
      if (!v || v === view) return;
      view = v;
      build();
      deep?.refresh();
    },
    setWords(on) {
      o.stage.classList.toggle('nowords', !on);
    },
    setHeat(on) {
      o.stage.classList.toggle('heat', on);
    },
    setWordsPerCell(n) {
      perCell = n;
      layout();
    },
    layout,
    clear,
    deepTops: () => tops,
    destroy() {
      unbind?.();
      resize?.disconnect();
      deep?.destroy();
      if (o.deepBox && deep) {
        o.deepBox.replaceChildren();
        o.deepBox.hidden = true;
      }
      for (const [t, f] of [
        ['mouseover', onOver],
        ['mouseleave', onLeave],
        ['click', onClick],
        ['focusin', onFocusIn],
        ['focusout', onFocusOut],
        ['keydown', onKey],
      ] as Array<[string, EventListener]>)
        host.removeEventListener(t, f);
      host.replaceChildren();
      host.removeAttribute('aria-activedescendant');
      o.stage.classList.remove('dheat');
      o.detail.show(null, null);
    },
  };

  if (data.deep && o.deepBox) {
    deep = mountDeep(o.deepBox, data.deep, {
      showWords(t) {
        tops = t;
        if (!ready) return; // mounting: build() draws everything afterwards
        drawWords();
        detail();
      },
      showHeat(h) {
        dheat = h;
        if (ready) drawDeepHeat();
      },
      grid() {
        return {
          rows: view.rows,
          cols: view.cols,
          cells: view.p.map(([index, row, col]) => ({ index, row, col })),
        };
      },
    });
  }
  const unbind = o.detail.bind?.(api, o.stage);
  ready = true;
  build();
  return api;
}

// --- the two detail renderers ---------------------------------------------------------------------------------

/**
 * The export's floating tooltip: the pinned patch, else the active one; header, the deep lens's lines, then a table
 * of rank, word, gloss, score and id. Follows its patch on resize and scroll; a click outside unpins.
 */
export function tooltipDetail(tip: HTMLElement): DetailRenderer {
  let at: HTMLElement | null = null;
  function place(): void {
    if (!at) return;
    const r = at.getBoundingClientRect();
    tip.hidden = false;
    const tw = tip.offsetWidth;
    const th = tip.offsetHeight;
    let x = r.right + 8;
    const y0 = r.top;
    if (x + tw > innerWidth - 4) x = r.left - tw - 8;
    if (x < 4) x = Math.min(Math.max(4, r.left), innerWidth - tw - 4);
    const y = y0 + th > innerHeight - 4 ? Math.max(4, innerHeight - th - 4) : y0;
    tip.style.left = `${x}px`;
    tip.style.top = `${y}px`;
  }
  return {
    show(active, pinned) {
      const s = pinned ?? active;
      tip.classList.toggle('pinned', pinned !== null);
      at = s?.el ?? null;
      if (!s) {
        tip.hidden = true;
        return;
      }
      const [index, row, col] = s.cell;
      tip.textContent = '';
      const h = document.createElement('div');
      h.className = 'h';
      h.textContent =
        `${s.view.title.split(' · ')[0]} · row ${row}, col ${col} · token #${index}` +
        (s.deep ? '' : ` · ${s.method}`);
      tip.appendChild(h);
      for (const line of s.lines) {
        const d = document.createElement('div');
        d.className = 'h';
        d.textContent = line;
        tip.appendChild(d);
      }
      const table = document.createElement('table');
      s.words.forEach(([word, score, id, gloss], k) => {
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
      place();
    },
    bind(view, stage) {
      const onDoc = (e: MouseEvent): void => {
        const t = e.target as Node | null;
        if (!stage.contains(t) && !tip.contains(t)) view.clear();
      };
      const onEsc = (e: KeyboardEvent): void => {
        if (e.key === 'Escape') view.clear();
      };
      const onMove = (): void => place();
      document.addEventListener('click', onDoc);
      document.addEventListener('keydown', onEsc);
      addEventListener('resize', onMove);
      addEventListener('scroll', onMove, { passive: true });
      return () => {
        document.removeEventListener('click', onDoc);
        document.removeEventListener('keydown', onEsc);
        removeEventListener('resize', onMove);
        removeEventListener('scroll', onMove);
      };
    },
  };
}

export interface PanelElements {
  title: HTMLElement;
  sub: HTMLElement;
  bars: HTMLElement;
  deepDetail: HTMLElement;
}

/**
 * The page's side panel: the active patch, else the pinned one; "Row r, column c", view, token, method and k, one
 * bar per word (lengths relative to every score in the view), and the deep lens's lines.
 */
export function panelDetail(p: PanelElements): DetailRenderer {
  return {
    sticky: true,
    show(active, pinned) {
      const s = active ?? pinned;
      p.deepDetail.replaceChildren(
        ...(s?.lines ?? []).map((line) => {
          const d = document.createElement('div');
          d.textContent = line;
          return d;
        }),
      );
      if (!s) {
        p.title.textContent = 'Token details';
        p.sub.textContent = 'Hover, tap or use the arrow keys on a patch.';
        p.bars.replaceChildren();
        return;
      }
      const [index, row, col] = s.cell;
      p.title.textContent = `Row ${row + 1}, column ${col + 1}`;
      p.sub.textContent =
        `${s.view.name} view · token #${index} · ` +
        `${s.deep ? 'deep lens' : s.method} · top ${s.words.length}`;
      // Bars compare across patches: relative to every shown score in the view.
      const lengths = barLengths(
        s.words.map((w) => w[1]),
        rangeOfScores(s.viewWords.flatMap((ws) => ws.map((w) => w[1]))),
      );
      p.bars.replaceChildren(
        ...s.words.map(([text, score, id], r) => {
          const li = document.createElement('li');
          const word = document.createElement('span');
          word.className = 'w';
          word.textContent = text || '∅';
          word.title = `id ${id}`;
          const track = document.createElement('span');
          track.className = 'track';
          const fill = document.createElement('span');
          fill.className = 'fillbar';
          fill.style.display = 'block';
          fill.style.width = `${lengths[r] * 100}%`;
          track.append(fill);
          const sc = document.createElement('span');
          sc.className = 's';
          sc.textContent = score.toFixed(3);
          li.append(word, track, sc);
          return li;
        }),
      );
    },
  };
}
