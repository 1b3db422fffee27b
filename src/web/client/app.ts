/**
 * The page's own behaviour: pick/drop/paste an image or an example, POST it to /api/analyze, stream progress from
 * /api/events, the form (method, k, exclusions, deep-lens layers, view, words, heat map) and the downloads.
 * Everything that shows a result (the words over the image, heat map, hover / tap / arrow keys, the detail panel,
 * the deep-lens controls) is the one result viewer, client/result-view.ts, which the HTML export runs too.
 * Changing method, k or exclusions re-asks the server, which reuses the cached features; view, words and heat map
 * are redrawn locally.
 */
import type { ProgressEvent } from '../../progress.js';
import type { ResultJson, ViewName } from '../../types.js';
import { toDeepPage } from './deep.js';
import { drawOverlay, overlayHtml } from './export.js';
import { mountResultView, panelDetail, resultData, type ResultView } from './result-view.js';
import { availableViews } from './view.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

interface State {
  image: Blob | null;
  imageName: string;
  imageUrl: string | null;
  result: ResultJson | null;
  view: ViewName;
  seq: number;
  controller: AbortController | null;
  /** The result viewer (client/result-view.ts, the HTML export's too) while a result is shown. */
  shown: ResultView | null;
}
const state: State = {
  image: null,
  imageName: '',
  imageUrl: null,
  result: null,
  view: 'base',
  seq: 0,
  controller: null,
  shown: null,
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
  stage: $('stage'),
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
  mountView(result);
  const { width, height, name } = result.image;
  els.caption.textContent =
    `${name ?? 'image'} · ${width}×${height} · ${result.tokens.length} image tokens · ` +
    `${result.method}, top ${result.k} · ${timing}`;
  for (const b of [els.dlPng, els.dlHtml, els.dlJson]) b.disabled = false;
}

/** Everything that shows the result is the shared viewer; the page keeps its controls and the side panel's place. */
function mountView(result: ResultJson): void {
  state.shown?.destroy();
  const deep = result.deep
    ? toDeepPage(
        result.deep,
        result.tokens.map((t) => t.index),
      )
    : undefined;
  const views = result.views.map((v) => ({ name: v.name, title: v.name, rows: v.rows, cols: v.cols }));
  state.shown = mountResultView(els.cells, resultData(result, views, deep), {
    stage: els.stage,
    fill: 'stack',
    detail: panelDetail({
      title: els.detailTitle,
      sub: els.detailSub,
      bars: els.bars,
      deepDetail: els.deepDetail,
    }),
    deepBox: els.deep,
    heatAlpha: 0.6,
    view: state.view,
    words: els.words.checked,
    heat: els.heat.checked,
    wordsPerCell: Number(els.k.value),
  });
  els.legend.hidden = !els.heat.checked;
}

/** The side panel before there is a result. */
function noResult(): void {
  state.shown?.destroy();
  state.shown = null;
  els.detailTitle.textContent = 'Token details';
  els.detailSub.textContent = 'Analyse an image to see each patch’s nearest words.';
  els.bars.replaceChildren();
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
  noResult();
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
  state.shown?.layout();
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
  state.shown?.setWordsPerCell(Number(els.k.value));
  analyzeSoon();
});
els.exSpecial.addEventListener('change', () => void analyze());
els.exBytes.addEventListener('change', () => void analyze());
els.layers.addEventListener('change', () => void analyze());
els.words.addEventListener('change', () => state.shown?.setWords(els.words.checked));
els.heat.addEventListener('change', () => {
  state.shown?.setHeat(els.heat.checked);
  els.legend.hidden = !els.heat.checked;
});
for (const r of viewRadios) {
  r.addEventListener('change', () => {
    state.view = r.value as ViewName;
    state.shown?.setView(state.view);
  });
}

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
  const tops = state.shown?.deepTops() ?? null;
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
