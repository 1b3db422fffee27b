/**
 * The page's behaviour: pick/drop/paste an image or an example, POST it to /api/analyze, draw each patch's
 * words over the image, show a patch's top-k as a bar chart on hover, tap or arrow keys, and stream progress
 * from /api/events. Changing method, k or exclusions re-asks the server, which reuses the cached features;
 * view, words and heat map are redrawn locally. A "layers" entry asks the server for the deep lens; when the result
 * carries it, the deep-lens controls (client/deep-ui.ts, shared with the HTML export) pick the layer drawn.
 */
import type { ProgressEvent } from '../../progress.js';
import type { ResultJson, ViewName } from '../../types.js';
import { toDeepPage, type DeepWord } from './deep.js';
import { mountDeep, type DeepControls } from './deep-ui.js';
import { drawOverlay, overlayHtml } from './export.js';
import {
  availableViews,
  barLengths,
  cellFontPx,
  displayWord,
  heatCss,
  move,
  patchTokens,
  scoreRange,
  topScoreRange,
  unit,
  wordsThatFit,
  type Move,
  type ResultToken,
} from './view.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

interface State {
  image: Blob | null;
  imageName: string;
  imageUrl: string | null;
  result: ResultJson | null;
  view: ViewName;
  tokens: ResultToken[];
  active: number;
  pinned: number;
  seq: number;
  controller: AbortController | null;
  /** The deep-lens controls when the result has `deep`; the layer's words and heat they ask for. */
  deep: DeepControls | null;
  deepTops: DeepWord[][] | null;
  deepHeat: Array<number | null> | null;
}
const state: State = {
  image: null,
  imageName: '',
  imageUrl: null,
  result: null,
  view: 'base',
  tokens: [],
  active: -1,
  pinned: -1,
  seq: 0,
  controller: null,
  deep: null,
  deepTops: null,
  deepHeat: null,
};

const els = {
  modelStatus: $('model-status'),
  modelName: $('model-name'),
  progress: $('progress'),
  progressFill: $('progress-fill'),
  progressText: $('progress-text'),
  drop: $('drop'),
  file: $<HTMLInputElement>('file'),
  examples: $('examples'),
  method: $<HTMLSelectElement>('method'),
  k: $<HTMLInputElement>('k'),
  kOut: $<HTMLOutputElement>('k-out'),
  words: $<HTMLInputElement>('words'),
  heat: $<HTMLInputElement>('heat'),
  exSpecial: $<HTMLInputElement>('ex-special'),
  exBytes: $<HTMLInputElement>('ex-bytes'),
  layers: $<HTMLInputElement>('layers'),
  deep: $('deep'),
  deepDetail: $('deep-detail'),
  empty: $('empty'),
  frame: $('frame'),
  photo: $<HTMLImageElement>('photo'),
  cells: $('cells'),
  caption: $('caption'),
  legend: $('legend'),
  detailTitle: $('detail-title'),
  detailSub: $('detail-sub'),
  bars: $('bars'),
  error: $('error'),
  dlPng: $<HTMLButtonElement>('dl-png'),
  dlHtml: $<HTMLButtonElement>('dl-html'),
  dlJson: $<HTMLButtonElement>('dl-json'),
};
const viewRadios = Array.from(document.querySelectorAll<HTMLInputElement>('input[name=view]'));

// --- progress and errors ----------------------------------------------------------------------------------

function showProgress(text: string, fraction?: number): void {
  els.progress.hidden = false;
  els.progressText.textContent = text;
  els.progressFill.classList.toggle('indeterminate', fraction === undefined);
  els.progressFill.style.width = fraction === undefined ? '30%' : `${Math.round(fraction * 100)}%`;
}
function hideProgress(): void {
  els.progress.hidden = true;
}

function onProgress(e: ProgressEvent): void {
  if (e.status === 'initiate') showProgress(`${e.label}…`);
  else if (e.status === 'progress') {
    const frac = e.total ? e.done / e.total : undefined;
    const amount =
      e.unit === 'bytes' && e.total
        ? ` ${(e.done / 1048576).toFixed(1)} / ${(e.total / 1048576).toFixed(1)} MB`
        : e.total
          ? ` ${e.done} / ${e.total}`
          : '';
    showProgress(`${e.label}${amount}`, frac);
  } else if (e.status === 'notice') showProgress(e.message);
  else if (e.status === 'done') showProgress(`${e.label} ✓`, 1);
}

let errorTimer: ReturnType<typeof setTimeout> | undefined;
function showError(message: string, hint?: string): void {
  els.error.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = message;
  els.error.append(strong);
  if (hint) els.error.append(document.createTextNode(hint));
  els.error.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => (els.error.hidden = true), 9000);
}

// --- model status -----------------------------------------------------------------------------------------

interface ModelsReply {
  models: Array<{ id: string; ready: boolean; state: string; views?: ViewName[] }>;
  limits: { maxUploadBytes: number; maxK: number };
}

async function watchModel(): Promise<void> {
  const reply = (await (await fetch('/api/models')).json()) as ModelsReply;
  const m = reply.models[0];
  els.modelName.textContent = m.id;
  $('limit-text').textContent = `up to ${Math.round(reply.limits.maxUploadBytes / 1048576)} MiB`;
  if (m.ready) return setReady(m.views ?? ['base']);
  if (m.state === 'failed') {
    els.modelStatus.classList.add('failed');
    els.modelName.textContent = `${m.id}: failed to load`;
    return;
  }
  els.modelName.textContent = `${m.id}: loading…`;
  showProgress('Loading the model…');
  const es = new EventSource('/api/events');
  es.addEventListener('progress', (msg) => {
    const e = JSON.parse((msg as MessageEvent<string>).data) as ProgressEvent;
    if (e.status === 'ready') {
      es.close();
      hideProgress();
      void watchModel();
    } else onProgress(e);
  });
}

function setReady(views: ViewName[]): void {
  els.modelStatus.classList.add('ready');
  for (const r of viewRadios) r.disabled = !views.includes(r.value as ViewName);
  if (!views.includes('grid')) $('view-help').textContent = 'This model has one view: the whole image.';
  if (state.image && !state.result) void analyze();
}

// --- analysis ---------------------------------------------------------------------------------------------

function requestId(): string {
  return `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/** Opens the per-request progress stream and resolves once it is connected (or after 1 s). */
function openEvents(rid: string): Promise<EventSource> {
  const es = new EventSource(`/api/events?request=${rid}`);
  es.addEventListener('progress', (msg) =>
    onProgress(JSON.parse((msg as MessageEvent<string>).data) as ProgressEvent),
  );
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(es), 1000);
    es.onopen = () => {
      clearTimeout(t);
      resolve(es);
    };
  });
}

async function analyze(): Promise<void> {
  if (!state.image) return;
  state.controller?.abort();
  const controller = new AbortController();
  state.controller = controller;
  const seq = ++state.seq;
  const rid = requestId();
  const form = new FormData();
  form.append('image', state.image, state.imageName);
  form.append('method', els.method.value);
  form.append('k', els.k.value);
  const exclude = [els.exSpecial.checked ? 'special' : '', els.exBytes.checked ? 'bytes' : ''].filter(
    Boolean,
  );
  form.append('exclude', exclude.join(',') || 'none');
  // Only sent when asked for, so a server without the deep lens sees the request it always saw.
  const layers = els.layers.value.trim();
  if (layers && layers !== 'off') form.append('layers', layers);
  form.append('request', rid);
  document.body.setAttribute('aria-busy', 'true');
  showProgress('Sending the image…');
  const es = await openEvents(rid);
  const t0 = performance.now();
  try {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch('/api/analyze', { method: 'POST', body: form, signal: controller.signal });
      if (res.status === 503 && attempt < 5) {
        const wait = Number(res.headers.get('Retry-After') ?? '2');
        showProgress(`The server is busy; retrying in ${wait} s…`);
        await new Promise((r) => setTimeout(r, wait * 1000));
        continue;
      }
      const body = (await res.json()) as ResultJson | { error: string; hint?: string };
      if (seq !== state.seq) return;
      if (!res.ok || 'error' in body) {
        const err = body as { error: string; hint?: string };
        showError(err.error ?? `HTTP ${res.status}`, err.hint);
        break;
      }
      const cache = res.headers.get('X-Imgtokens-Cache') === 'hit' ? ' · features from cache' : '';
      showResult(body, `${Math.round(performance.now() - t0)} ms${cache}`);
      break;
    }
  } catch (e) {
    if ((e as Error).name !== 'AbortError')
      showError('Could not reach the server.', String((e as Error).message));
  } finally {
    es.close();
    if (seq === state.seq) {
      hideProgress();
      document.body.removeAttribute('aria-busy');
    }
  }
}

let kTimer: ReturnType<typeof setTimeout> | undefined;
function analyzeSoon(): void {
  clearTimeout(kTimer);
  kTimer = setTimeout(() => void analyze(), 200);
}

// --- drawing ----------------------------------------------------------------------------------------------

function showResult(result: ResultJson, timing: string): void {
  state.result = result;
  const views = availableViews(result);
  if (!views.includes(state.view)) state.view = views[0] ?? 'base';
  for (const r of viewRadios) {
    r.checked = r.value === state.view;
    r.disabled = !views.includes(r.value as ViewName);
  }
  mountDeepControls(result);
  render();
  const { width, height, name } = result.image;
  els.caption.textContent =
    `${name ?? 'image'} · ${width}×${height} · ${result.tokens.length} image tokens · ` +
    `${result.method}, top ${result.k} · ${timing}`;
  for (const b of [els.dlPng, els.dlHtml, els.dlJson]) b.disabled = false;
}

/** The deep-lens controls for a result with `deep`; none (and the panel hidden) for one without. */
function mountDeepControls(result: ResultJson): void {
  state.deepTops = null;
  state.deepHeat = null;
  state.deep?.destroy();
  state.deep = null;
  els.deep.replaceChildren();
  els.deep.hidden = true;
  if (!result.deep) return;
  const page = toDeepPage(
    result.deep,
    result.tokens.map((t) => t.index),
  );
  state.deep = mountDeep(els.deep, page, {
    showWords(tops) {
      state.deepTops = tops;
      // During mounting (state.deep not yet set) render() draws everything afterwards.
      if (state.result !== result || !state.deep) return;
      state.tokens = viewTokens(result);
      paintHeat();
      layoutWords();
      showDetail(state.active);
    },
    showHeat(heat) {
      state.deepHeat = heat;
      if (state.result === result && state.deep) paintHeat();
    },
    grid() {
      const v = result.views.find((x) => x.name === state.view);
      return {
        rows: v?.rows ?? 0,
        cols: v?.cols ?? 0,
        cells: patchTokens(result, state.view).map((t) => ({ index: t.index, row: t.row, col: t.col })),
      };
    },
  });
}

/** The view's patch tokens, with the deep-lens layer's words in place of the projector-level ones when shown. */
function viewTokens(result: ResultJson): ResultToken[] {
  const tokens = patchTokens(result, state.view);
  const tops = state.deepTops;
  if (!tops) return tokens;
  return tokens.map((t) => ({
    ...t,
    top: (tops[t.index] ?? []).map(([text, score, id]) => ({ text, score, id })),
  }));
}

/** Cell backgrounds: the deep lens's heat when it shows one, else the top-score heat map when switched on. */
function paintHeat(): void {
  const range = topScoreRange(state.tokens);
  const cells = Array.from(els.cells.children as HTMLCollectionOf<HTMLElement>);
  els.cells.classList.toggle('dheat', state.deepHeat !== null);
  for (const cell of cells) {
    const t = state.tokens[Number(cell.dataset.i)];
    if (!t) continue;
    const d = state.deepHeat?.[t.index];
    if (state.deepHeat) {
      if (d === null || d === undefined) cell.style.removeProperty('--dheat');
      else cell.style.setProperty('--dheat', heatCss(d, 0.6));
    }
    cell.style.background = els.heat.checked
      ? heatCss(unit(t.top[0]?.score ?? 0, range.min, range.max), 0.6)
      : '';
  }
}

function render(): void {
  const result = state.result;
  if (!result) return;
  state.tokens = viewTokens(result);
  const W = result.image.width;
  const H = result.image.height;
  const frag = document.createDocumentFragment();
  state.tokens.forEach((t, i) => {
    const b = t.box!;
    const cell = document.createElement('div');
    cell.className = 'cell';
    cell.id = `cell-${i}`;
    cell.setAttribute('role', 'option');
    cell.setAttribute('aria-selected', 'false');
    cell.dataset.i = String(i);
    cell.style.left = `${(b.x / W) * 100}%`;
    cell.style.top = `${(b.y / H) * 100}%`;
    cell.style.width = `${(b.w / W) * 100}%`;
    cell.style.height = `${(b.h / H) * 100}%`;
    const words = t.top.map((w) => displayWord(w.text));
    cell.setAttribute('aria-label', `row ${t.row + 1}, column ${t.col + 1}: ${words.slice(0, 3).join(', ')}`);
    frag.append(cell);
  });
  els.cells.replaceChildren(frag);
  paintHeat();
  els.cells.classList.toggle('no-words', !els.words.checked);
  els.legend.hidden = !els.heat.checked;
  state.active = -1;
  state.pinned = -1;
  els.cells.removeAttribute('aria-activedescendant');
  layoutWords();
  showDetail(-1);
}

/** Fills each cell with as many of its words as fit at the size the image is shown. */
function layoutWords(): void {
  const rect = els.photo.getBoundingClientRect();
  const result = state.result;
  if (!result || rect.width === 0) return;
  const sx = rect.width / result.image.width;
  const sy = rect.height / result.image.height;
  for (const cell of Array.from(els.cells.children as HTMLCollectionOf<HTMLElement>)) {
    const t = state.tokens[Number(cell.dataset.i)];
    const w = t.box!.w * sx;
    const h = t.box!.h * sy;
    const font = cellFontPx(w, h);
    cell.style.fontSize = `${font}px`;
    const n = wordsThatFit(h, font, Math.min(t.top.length, Number(els.k.value)));
    const spans = t.top.slice(0, n).map((word) => {
      const s = document.createElement('span');
      s.textContent = displayWord(word.text);
      return s;
    });
    cell.replaceChildren(...spans);
  }
}

function showDetail(i: number): void {
  const t = state.tokens[i];
  els.deepDetail.replaceChildren(
    ...(t && state.deep ? state.deep.describe(t.index) : []).map((line) => {
      const d = document.createElement('div');
      d.textContent = line;
      return d;
    }),
  );
  if (!t || !state.result) {
    els.detailTitle.textContent = 'Token details';
    els.detailSub.textContent = state.result
      ? 'Hover, tap or use the arrow keys on a patch.'
      : 'Analyse an image to see each patch’s nearest words.';
    els.bars.replaceChildren();
    return;
  }
  els.detailTitle.textContent = `Row ${t.row + 1}, column ${t.col + 1}`;
  els.detailSub.textContent =
    `${t.view} view · token #${t.index} · ` +
    `${state.deepTops ? 'deep lens' : state.result.method} · top ${t.top.length}`;
  const lengths = barLengths(
    t.top.map((w) => w.score),
    scoreRange(state.tokens),
  );
  els.bars.replaceChildren(
    ...t.top.map((w, r) => {
      const li = document.createElement('li');
      const word = document.createElement('span');
      word.className = 'w';
      word.textContent = displayWord(w.text);
      word.title = `id ${w.id}`;
      const track = document.createElement('span');
      track.className = 'track';
      const fill = document.createElement('span');
      fill.className = 'fillbar';
      fill.style.display = 'block';
      fill.style.width = `${lengths[r] * 100}%`;
      track.append(fill);
      const score = document.createElement('span');
      score.className = 's';
      score.textContent = w.score.toFixed(3);
      li.append(word, track, score);
      return li;
    }),
  );
}

function setActive(i: number, pin = false): void {
  const prev = els.cells.querySelector('.cell.active');
  prev?.classList.remove('active');
  prev?.setAttribute('aria-selected', 'false');
  state.active = i;
  const cell = document.getElementById(`cell-${i}`);
  if (cell) {
    cell.classList.add('active');
    cell.setAttribute('aria-selected', 'true');
    els.cells.setAttribute('aria-activedescendant', cell.id);
  }
  if (pin) {
    els.cells.querySelector('.cell.pinned')?.classList.remove('pinned');
    state.pinned = i;
    cell?.classList.add('pinned');
  }
  showDetail(i);
}

// --- input ------------------------------------------------------------------------------------------------

function useImage(blob: Blob, name: string): void {
  if (!blob.type.startsWith('image/') && blob.type !== '') {
    showError('That is not an image.', 'Pick a JPEG, PNG, GIF or WebP file.');
    return;
  }
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.image = blob;
  state.imageName = name;
  state.imageUrl = URL.createObjectURL(blob);
  state.result = null;
  els.cells.replaceChildren();
  els.photo.src = state.imageUrl;
  els.photo.alt = name;
  els.empty.hidden = true;
  els.frame.hidden = false;
  document.body.classList.add('has-image');
  els.caption.textContent = `${name} · analysing…`;
  for (const b of [els.dlPng, els.dlHtml, els.dlJson]) b.disabled = true;
  if (els.modelStatus.classList.contains('ready')) void analyze();
}

els.photo.addEventListener('load', () => {
  els.photo.classList.toggle('pixelated', Math.max(els.photo.naturalWidth, els.photo.naturalHeight) < 256);
  // Small images are shown larger so that the words are readable.
  const long = Math.max(els.photo.naturalWidth, els.photo.naturalHeight);
  const scale = Math.max(1, 640 / long);
  els.photo.style.width = `${els.photo.naturalWidth * scale}px`;
  layoutWords();
});

els.file.addEventListener('change', () => {
  const f = els.file.files?.[0];
  if (f) useImage(f, f.name);
  els.file.value = '';
});
els.drop.addEventListener('click', () => els.file.click());
els.drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    els.file.click();
  }
});
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', (e) => {
  if (e.relatedTarget === null) document.body.classList.remove('dragging');
});
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const f = e.dataTransfer?.files[0];
  if (f) useImage(f, f.name);
});
document.addEventListener('paste', (e) => {
  const item = Array.from(e.clipboardData?.items ?? []).find((it) => it.type.startsWith('image/'));
  const f = item?.getAsFile();
  if (f) useImage(f, f.name && f.name !== 'image.png' ? f.name : 'pasted image');
});

async function loadExamples(): Promise<void> {
  const { examples } = (await (await fetch('/api/examples')).json()) as { examples: string[] };
  for (const url of examples) {
    const name = url.split('/').pop()!;
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('aria-pressed', 'false');
    b.setAttribute('aria-label', `Example: ${name.replace(/\.\w+$/, '').replace(/[-_]/g, ' ')}`);
    const img = document.createElement('img');
    img.src = url;
    img.alt = '';
    b.append(img);
    b.addEventListener('click', async () => {
      for (const o of Array.from(els.examples.querySelectorAll('button')))
        o.setAttribute('aria-pressed', String(o === b));
      const blob = await (await fetch(url)).blob();
      useImage(blob, name);
    });
    els.examples.append(b);
  }
}

els.method.addEventListener('change', () => void analyze());
els.k.addEventListener('input', () => {
  els.kOut.value = els.k.value;
  layoutWords();
  analyzeSoon();
});
els.exSpecial.addEventListener('change', () => void analyze());
els.exBytes.addEventListener('change', () => void analyze());
els.layers.addEventListener('change', () => void analyze());
els.words.addEventListener('change', () => els.cells.classList.toggle('no-words', !els.words.checked));
els.heat.addEventListener('change', render);
for (const r of viewRadios) {
  r.addEventListener('change', () => {
    state.view = r.value as ViewName;
    render();
    state.deep?.refresh();
  });
}

els.cells.addEventListener('mouseover', (e) => {
  const cell = (e.target as HTMLElement).closest<HTMLElement>('.cell');
  if (cell) setActive(Number(cell.dataset.i));
});
els.cells.addEventListener('mouseleave', () => {
  if (state.pinned >= 0) setActive(state.pinned);
});
els.cells.addEventListener('click', (e) => {
  const cell = (e.target as HTMLElement).closest<HTMLElement>('.cell');
  if (cell) setActive(Number(cell.dataset.i), true);
});
els.cells.addEventListener('focus', () => {
  if (state.active < 0 && state.tokens.length > 0) setActive(0);
});
const KEYS: Record<string, Move> = {
  ArrowLeft: 'left',
  ArrowRight: 'right',
  ArrowUp: 'up',
  ArrowDown: 'down',
  Home: 'home',
  End: 'end',
};
els.cells.addEventListener('keydown', (e) => {
  const dir = KEYS[e.key];
  if (dir) {
    e.preventDefault();
    setActive(move(state.tokens, state.active, dir));
  } else if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    if (state.active >= 0) setActive(state.active, true);
  }
});
new ResizeObserver(() => layoutWords()).observe(els.photo);

// --- downloads --------------------------------------------------------------------------------------------

function save(blob: Blob, filename: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
function baseName(): string {
  const r = state.result!;
  return `${(state.imageName || 'image').replace(/\.\w+$/, '')}.${r.method}`;
}
const drawOptions = () => ({ view: state.view, words: els.words.checked, heat: els.heat.checked });

els.dlJson.addEventListener('click', () => {
  if (!state.result) return;
  save(new Blob([JSON.stringify(state.result, null, 1)], { type: 'application/json' }), `${baseName()}.json`);
});
/** PNG and HTML come from the server's renderers (src/render); if that fails the page draws its own. */
/**
 * What the PNG shows: with a deep-lens layer on screen, that layer's words as a plain (schema /1) result; the HTML
 * download keeps the whole result, deep lens included.
 */
function shownResult(): ResultJson | null {
  const r = state.result;
  const tops = state.deepTops;
  if (!r || !tops) return r;
  const tokens = r.tokens.map((t) => ({
    ...t,
    top: (tops[t.index] ?? []).map(([text, score, id]) => ({ text, score, id })),
  }));
  return { ...r, schema: 'imgtokens.result/1', deep: undefined, tokens };
}

async function serverRender(format: 'png' | 'html'): Promise<Blob | null> {
  if (!state.result || !state.image) return null;
  const form = new FormData();
  form.append('image', state.image, state.imageName);
  form.append('result', JSON.stringify(format === 'png' ? shownResult() : state.result));
  form.append('format', format);
  form.append('view', state.view);
  form.append('words', String(Math.min(3, Number(els.k.value))));
  try {
    const res = await fetch('/api/render', { method: 'POST', body: form });
    return res.ok ? await res.blob() : null;
  } catch {
    return null;
  }
}

els.dlPng.addEventListener('click', async () => {
  const result = state.result;
  if (!result) return;
  const name = `${baseName()}.png`;
  const blob = await serverRender('png');
  if (blob) return save(blob, name);
  drawOverlay(els.photo, shownResult() ?? result, drawOptions()).toBlob(
    (b) => b && save(b, name),
    'image/png',
  );
});
els.dlHtml.addEventListener('click', async () => {
  const result = state.result;
  if (!result || !state.image) return;
  const name = `${baseName()}.html`;
  const blob = await serverRender('html');
  if (blob) return save(blob, name);
  const reader = new FileReader();
  reader.onload = () => {
    const html = overlayHtml(String(reader.result), result, drawOptions());
    save(new Blob([html], { type: 'text/html' }), name);
  };
  reader.readAsDataURL(state.image);
});

void loadExamples();
watchModel().catch(() => showError('Could not reach the server.', 'Is `imgtokens serve` still running?'));
