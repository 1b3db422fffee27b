/**
 * The deep lens's controls, mounted by the one result viewer (client/result-view.ts) in the HTML export and the page:
 * a lens switch (projector / logit lens / embedding lens), a layer slider (arrow keys, Home/End, also when the page
 * itself has focus), a play button that steps through the layers, a "first layer of the final word" heat view, the
 * reverse lookup (type a word: the picture is coloured by its rank in each patch's top-k at the shown layer, and a
 * strip of small heat maps shows every layer at once; click one to go there) and the model's next-token top-k.
 * The host draws the patches; this module tells it which words and which heat to draw. Text only via textContent.
 */
import {
  firstLayers,
  hitHeat,
  lookupWord,
  type DeepLens,
  type DeepPage,
  type DeepWord,
  type FirstLayer,
  type Hit,
} from './deep.js';
import { heatRgb } from './view.js';

export interface DeepHost {
  /** Draw these top-k words per token index, or the projector-level result's own when null. */
  showWords(tops: DeepWord[][] | null): void;
  /** Colour patches by heat[token index] in [0, 1] (null: uncoloured), or restore the host's own heat when null. */
  showHeat(heat: Array<number | null> | null): void;
  /** The patches of the view on screen (for the per-layer heat maps). */
  grid(): { rows: number; cols: number; cells: Array<{ index: number; row: number; col: number }> };
}

export interface DeepControls {
  /** The words drawn now (null: the projector-level result's). */
  tops(): DeepWord[][] | null;
  /** Lines for a token's tooltip: the layer shown, when its final word first appears, the lookup's hit. */
  describe(index: number): string[];
  /** The host changed view: redraw the per-layer maps. */
  refresh(): void;
  /** Shown layer position (index into page.layers). */
  position(): number;
  setPosition(p: number): void;
  /** Stops playing and drops the page-wide key handler (before mounting controls for another result). */
  destroy(): void;
}

const LENS_NAMES: Record<DeepLens | 'proj', string> = {
  proj: 'projector',
  logit: 'logit lens',
  embed: 'embedding lens',
};
const PLAY_MS = 650;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<'id' | 'className' | 'textContent' | 'type' | 'title', string>> = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) (e as unknown as Record<string, string>)[k] = v;
  e.append(...children);
  return e;
}

export function mountDeep(container: HTMLElement, page: DeepPage, host: DeepHost): DeepControls {
  const n = page.layers.length;
  let lens: DeepLens | 'proj' = 'logit';
  let pos = n - 1;
  let timer: ReturnType<typeof setInterval> | undefined;
  let first: FirstLayer[] = firstLayers(page, 'logit');
  let query = '';
  let hits: Array<Array<Hit | null>> = [];
  let counts: number[] = [];

  // --- markup ---------------------------------------------------------------------------------------------
  const seg = el('div', { className: 'dseg' });
  seg.setAttribute('role', 'group');
  seg.setAttribute('aria-label', 'Lens');
  const lensButtons = (['proj', 'logit', 'embed'] as const).map((name) => {
    const b = el('button', { type: 'button', textContent: LENS_NAMES[name], id: `deep-lens-${name}` });
    b.dataset.lens = name;
    b.addEventListener('click', () => setLens(name));
    seg.append(b);
    return b;
  });
  const play = el('button', { type: 'button', id: 'deep-play', className: 'dplay', textContent: '▶ play' });
  play.setAttribute('aria-pressed', 'false');
  play.setAttribute('aria-label', 'Play through the layers');
  const slider = el('input', { type: 'range', id: 'deep-layer' });
  slider.min = '0';
  slider.max = String(n - 1);
  slider.step = '1';
  slider.setAttribute('aria-label', 'Layer');
  const out = el('output', { id: 'deep-layer-out' });
  const firstBox = el('input', { type: 'checkbox', id: 'deep-first' });
  const firstLabel = el('label', {
    title: 'Colour each patch by the first layer whose top word is its last layer’s',
  });
  firstLabel.append(firstBox, document.createTextNode(' first layer of the final word'));
  const find = el('input', { type: 'search', id: 'deep-find' });
  find.placeholder = 'find a word in every layer…';
  find.setAttribute('aria-label', 'Reverse lookup: a word to find in every layer');
  find.autocomplete = 'off';
  find.spellcheck = false;
  const status = el('div', { id: 'deep-status', className: 'dstatus' });
  status.setAttribute('aria-live', 'polite');
  const maps = el('div', { id: 'deep-maps', className: 'dmaps' });
  maps.hidden = true;
  const nextList = el('ol', { id: 'deep-next', className: 'dnext' });
  for (const [word, p, id] of page.next) {
    const li = el(
      'li',
      { title: `id ${id}` },
      el('b', { textContent: word || '∅' }),
      el('span', { textContent: p.toFixed(3) }),
    );
    nextList.append(li);
  }
  const prompt = el(
    'details',
    {},
    el('summary', { textContent: 'prompt' }),
    el('pre', { textContent: page.prompt }),
  );
  const side = el(
    'div',
    { className: 'dside' },
    el('div', { className: 'dlabel', textContent: 'The model’s next token' }),
    nextList,
    prompt,
  );
  const meta = el('div', {
    className: 'dmeta',
    textContent:
      `deep lens · ${n} of ${page.numLayers + 1} hidden states · top-${page.k} · transformers ${page.reference}` +
      (page.compat ? ` · ${page.compat} compat` : ''),
  });
  container.replaceChildren(
    el('div', { className: 'drow' }, seg, play, slider, out),
    el('div', { className: 'drow' }, firstLabel, find),
    status,
    maps,
    side,
    meta,
  );
  container.hidden = false;

  // --- state -> screen ------------------------------------------------------------------------------------
  function tops(): DeepWord[][] | null {
    return lens === 'proj' ? null : page[lens][pos];
  }
  function heat(): Array<number | null> | null {
    if (lens === 'proj') return null;
    if (query) return hits[pos].map((h) => hitHeat(h, page.k));
    if (firstBox.checked) {
      // By position among the chosen layers: the first chosen layer is brightest, the last darkest.
      return first.map((f) => (f.top1 < 0 ? null : 1 - page.layers.indexOf(f.top1) / (n - 1 || 1)));
    }
    return null;
  }
  function draw(): void {
    const deep = lens !== 'proj';
    slider.value = String(pos);
    slider.disabled = !deep;
    play.disabled = !deep || n < 2;
    firstBox.disabled = !deep;
    find.disabled = !deep;
    for (const b of lensButtons) b.setAttribute('aria-pressed', String(b.dataset.lens === lens));
    const text = deep ? `layer ${page.layers[pos]} / ${page.numLayers}` : 'projector output';
    out.textContent = text;
    slider.setAttribute('aria-valuetext', text);
    host.showWords(tops());
    host.showHeat(heat());
    drawStatus();
    for (const c of Array.from(maps.children))
      c.classList.toggle('on', Number((c as HTMLElement).dataset.pos) === pos);
  }
  function drawStatus(): void {
    if (lens === 'proj') {
      status.textContent = '';
    } else if (query) {
      const c = counts[pos];
      const total = host.grid().cells.length;
      const anywhere = counts.filter((x) => x > 0).length;
      status.textContent =
        c > 0
          ? `“${query}” at layer ${page.layers[pos]}: in the top-${page.k} of ${c} of ${hits[pos].length} tokens ` +
            `(${viewCount()} of ${total} shown patches; colour = rank, brightest = rank 1)`
          : `“${query}” is in no token’s top-${page.k} at layer ${page.layers[pos]}` +
            (anywhere ? ` (it is in ${anywhere} of ${n} layers: see the maps)` : ` nor at any chosen layer`) +
            `; a rank below ${page.k} is not stored, so no patch is coloured`;
    } else if (firstBox.checked) {
      status.textContent =
        `colour = the first layer whose top word is the patch’s layer-${page.layers[n - 1]} word ` +
        `(bright = early, dark = only at the last layer)`;
    } else status.textContent = '';
  }
  function viewCount(): number {
    return host.grid().cells.filter((c) => hits[pos][c.index]).length;
  }
  function drawMaps(): void {
    maps.replaceChildren();
    maps.hidden = !query || lens === 'proj';
    if (maps.hidden) return;
    const g = host.grid();
    const cell = Math.max(2, Math.min(10, Math.floor(72 / Math.max(g.cols, 1))));
    page.layers.forEach((layer, p) => {
      const c = document.createElement('canvas');
      c.width = g.cols * cell;
      c.height = g.rows * cell;
      const ctx = c.getContext('2d');
      if (ctx) {
        ctx.fillStyle = '#2a2e38';
        ctx.fillRect(0, 0, c.width, c.height);
        for (const q of g.cells) {
          const h = hitHeat(hits[p][q.index] ?? null, page.k);
          if (h === null) continue;
          const [r, gg, b] = heatRgb(h);
          ctx.fillStyle = `rgb(${r},${gg},${b})`;
          ctx.fillRect(q.col * cell, q.row * cell, cell, cell);
        }
      }
      const fig = el('button', {
        type: 'button',
        className: 'dmap',
        title: `layer ${layer}: ${counts[p]} tokens`,
      });
      fig.dataset.pos = String(p);
      fig.dataset.count = String(counts[p]);
      fig.setAttribute('aria-label', `layer ${layer}: “${query}” in ${counts[p]} tokens’ top-${page.k}`);
      fig.append(c, el('span', { textContent: `${layer} · ${counts[p]}` }));
      fig.addEventListener('click', () => {
        stop();
        pos = p;
        draw();
      });
      maps.append(fig);
    });
  }

  // --- actions --------------------------------------------------------------------------------------------
  function setLens(name: DeepLens | 'proj'): void {
    lens = name;
    if (name !== 'proj') {
      first = firstLayers(page, name);
      ({ hits, counts } = lookupWord(page, name, query));
    } else stop();
    drawMaps();
    draw();
  }
  function setPosition(p: number): void {
    pos = Math.max(0, Math.min(n - 1, p));
    draw();
  }
  function stop(): void {
    if (timer === undefined) return;
    clearInterval(timer);
    timer = undefined;
    play.setAttribute('aria-pressed', 'false');
    play.textContent = '▶ play';
  }
  play.addEventListener('click', () => {
    if (timer !== undefined) return stop();
    if (pos >= n - 1) setPosition(0);
    play.setAttribute('aria-pressed', 'true');
    play.textContent = '❚❚ pause';
    timer = setInterval(() => {
      setPosition(pos + 1);
      if (pos >= n - 1) stop();
    }, PLAY_MS);
  });
  slider.addEventListener('input', () => {
    stop();
    setPosition(Number(slider.value));
  });
  firstBox.addEventListener('change', draw);
  find.addEventListener('input', () => {
    query = find.value.trim();
    if (lens !== 'proj') ({ hits, counts } = lookupWord(page, lens, query));
    drawMaps();
    draw();
  });
  // Left/right and Home/End step through the layers when no control or patch has the focus.
  const onKey = (e: KeyboardEvent): void => {
    const t = e.target as HTMLElement | null;
    const free =
      !t ||
      t === document.body ||
      t === document.documentElement ||
      (container.contains(t) && t.tagName === 'BUTTON');
    if (!free || lens === 'proj' || e.altKey || e.ctrlKey || e.metaKey) return;
    const to = { ArrowLeft: pos - 1, ArrowRight: pos + 1, Home: 0, End: n - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    stop();
    setPosition(to);
  };
  document.addEventListener('keydown', onKey);

  setLens('logit');
  return {
    tops,
    describe(index) {
      if (lens === 'proj') return [];
      const lines = [`layer ${page.layers[pos]} / ${page.numLayers} · ${LENS_NAMES[lens]}`];
      const f = first[index];
      if (f && f.word) {
        const last = page.layers[n - 1];
        lines.push(
          `final word “${f.word}” (layer ${last}): on top from layer ${f.top1}` +
            (f.topK >= 0 && f.topK < f.top1 ? `, in the top-${page.k} from layer ${f.topK}` : ''),
        );
      }
      if (query) {
        const h = hits[pos][index];
        lines.push(
          h
            ? `“${query}”: rank ${h.rank} of ${page.k} here (${h.score.toFixed(4)})`
            : `“${query}”: not in this patch’s top-${page.k}`,
        );
      }
      return lines;
    },
    refresh() {
      drawMaps();
      draw();
    },
    position: () => pos,
    setPosition,
    destroy() {
      stop();
      document.removeEventListener('keydown', onKey);
    },
  };
}
