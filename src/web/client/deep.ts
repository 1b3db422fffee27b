/**
 * The deep lens as the viewers see it (issue 12), DOM-free: the compact page form of ResultJson.deep that both the
 * HTML export (src/render/html.ts embeds it) and the web page (client/app.ts converts the server's result) hand
 * to the layer controls in client/deep-ui.ts, plus the two derived views those controls draw:
 *
 * - firstLayers: per patch, the first chosen layer at which the patch's final-layer top word is its top word
 *   (and the first at which it is anywhere in its top-k);
 * - lookupWord: the reverse lookup, per chosen layer and per token, the rank and score of a typed word among the
 *   token's top-k. Only the top-k is stored, so a word below rank k at some patch is simply absent there.
 *
 * Words are matched on their display form (vocab/word.ts: surrounding spaces dropped), case-insensitively, so
 * "cat" finds " cat", "Cat" and "cat"; a patch whose top-k holds several of them counts its best rank.
 */
import type { DeepJson, WordScore } from '../../types.js';
import { displayWord } from './view.js';

/** [display text, score, vocabulary id] */
export type DeepWord = [string, number, number];
export type DeepLens = 'logit' | 'embed';

/** What the viewers receive: every array of tokens is indexed by ResultJson token index. */
export interface DeepPage {
  numLayers: number;
  k: number;
  reference: string;
  compat?: string;
  prompt: string;
  /** The chosen layers (hidden_states indices), ascending. */
  layers: number[];
  /** [layer position][token index][rank] */
  logit: DeepWord[][][];
  embed: DeepWord[][][];
  /** The model's own next-token top-k (probabilities). */
  next: DeepWord[];
}

const compact = (w: WordScore): DeepWord => [displayWord(w.text), Number(w.score.toPrecision(6)), w.id];

/**
 * The page form of `deep`. `indexOf[t]` is the token index (ResultJson.tokens[t].index) of deep row t; by default
 * row t is token index t.
 */
export function toDeepPage(deep: DeepJson, indexOf?: readonly number[]): DeepPage {
  const rows = (per: WordScore[][]): DeepWord[][] => {
    const out: DeepWord[][] = [];
    per.forEach((top, t) => (out[indexOf ? indexOf[t] : t] = top.map(compact)));
    for (let i = 0; i < out.length; i++) out[i] ??= [];
    return out;
  };
  return {
    numLayers: deep.numLayers,
    k: deep.k,
    reference: deep.reference,
    ...(deep.compat ? { compat: deep.compat } : {}),
    prompt: deep.prompt.text,
    layers: deep.layers.map((l) => l.layer),
    logit: deep.layers.map((l) => rows(l.logit)),
    embed: deep.layers.map((l) => rows(l.embed)),
    next: deep.next.map(compact),
  };
}

/** How a typed word and a vocabulary word are compared: display form, trimmed, lower case. */
export function wordKey(text: string): string {
  return text.trim().toLowerCase();
}

export interface FirstLayer {
  /** The final chosen layer's top word for this token ('' when it has none). */
  word: string;
  /** First chosen layer (hidden_states index) whose top word is `word`; -1 when none (no word). */
  top1: number;
  /** First chosen layer whose top-k holds `word`; -1 when none. */
  topK: number;
}

/** Per token index: when the final layer's top word first appears (the last chosen layer is the reference). */
export function firstLayers(page: DeepPage, lens: DeepLens): FirstLayer[] {
  const per = page[lens];
  const last = per.length - 1;
  if (last < 0) return [];
  return per[last].map((finalTop, t) => {
    const word = finalTop[0]?.[0] ?? '';
    if (word === '') return { word, top1: -1, topK: -1 };
    let top1 = -1;
    let topK = -1;
    for (let l = 0; l <= last; l++) {
      const top = per[l][t] ?? [];
      if (topK < 0 && top.some((w) => w[0] === word)) topK = page.layers[l];
      if (top1 < 0 && top[0]?.[0] === word) top1 = page.layers[l];
      if (top1 >= 0) break;
    }
    return { word, top1, topK };
  });
}

/** One token's standing for a looked-up word at one layer: 1-based rank among its top-k and the score there. */
export interface Hit {
  rank: number;
  score: number;
  text: string;
}

/**
 * The reverse lookup: hits[layer position][token index] is the word's best rank in that token's top-k, or null
 * when it is not in that top-k. `counts[l]` is how many tokens hold it at layer position l.
 */
export function lookupWord(
  page: DeepPage,
  lens: DeepLens,
  query: string,
): { hits: Array<Array<Hit | null>>; counts: number[] } {
  const key = wordKey(query);
  const hits = page[lens].map((tokens) =>
    tokens.map((top): Hit | null => {
      if (key === '') return null;
      const r = top.findIndex((w) => wordKey(w[0]) === key);
      return r < 0 ? null : { rank: r + 1, score: top[r][1], text: top[r][0] };
    }),
  );
  return { hits, counts: hits.map((row) => row.filter((h) => h !== null).length) };
}

/** Heat in [0, 1] for a hit: rank 1 is 1, rank k is 1/k. */
export function hitHeat(hit: Hit | null, k: number): number | null {
  return hit ? (k - hit.rank + 1) / k : null;
}

/** The position in `layers` nearest to hidden_states index `layer` (the last one when `layer` is past it). */
export function layerPosition(layers: readonly number[], layer: number): number {
  let best = 0;
  for (let i = 0; i < layers.length; i++) {
    if (Math.abs(layers[i] - layer) < Math.abs(layers[best] - layer)) best = i;
  }
  return best;
}

/**
 * A label's font size as a fraction of its patch's height: the largest at which it fits 84% of the patch width and
 * 46% of its height (as src/render/html.ts sizes the projector words). `wOverH` is the patch's width / height.
 */
export function labelFit(label: string, wOverH: number): number {
  let em = 0;
  for (const ch of label) {
    // Wide (CJK, kana, Hangul, full-width) characters are about 1 em, others about 0.6 em.
    em += /[\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/u.test(ch)
      ? 1
      : /[A-Z@MWmw%]/.test(ch)
        ? 0.78
        : 0.58;
  }
  return Math.round(Math.min(0.46, (0.84 * wOverH) / Math.max(em, 0.6)) * 1e4) / 1e4;
}

/** Styles of the deep-lens controls (client/deep-ui.ts), included by the export's and the page's style sheets. */
export const DEEP_CSS = `
.deep{display:flex;flex-direction:column;gap:8px;font-size:13px;min-width:0}
.deep[hidden]{display:none}
.deep .drow{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:center}
.deep .dseg{display:inline-flex;border:1px solid #3a404d;border-radius:7px;overflow:hidden}
.deep .dseg button{font:inherit;color:inherit;background:transparent;border:0;padding:4px 10px;cursor:pointer}
.deep .dseg button+button{border-left:1px solid #3a404d}
.deep .dseg button[aria-pressed=true]{background:#2b5f8c;color:#fff}
.deep .dplay{font:inherit;color:inherit;background:transparent;border:1px solid #3a404d;border-radius:7px;padding:4px 10px;cursor:pointer;min-width:86px}
.deep .dplay[aria-pressed=true]{background:#2b5f8c;color:#fff}
.deep input[type=range]{flex:1 1 160px;min-width:120px}
.deep output{font-variant-numeric:tabular-nums;min-width:92px}
.deep label{display:flex;gap:5px;align-items:center;cursor:pointer}
.deep input[type=search]{font:inherit;color:inherit;background:rgba(127,127,127,.12);border:1px solid #3a404d;border-radius:6px;padding:4px 8px;flex:1 1 180px;min-width:140px}
.deep .dstatus{opacity:.8;font-size:12px;min-height:1em}
.deep .dmaps{display:flex;flex-wrap:wrap;gap:6px}
.deep .dmaps[hidden]{display:none}
.deep .dmap{font:inherit;font-size:11px;color:inherit;background:transparent;border:1px solid transparent;border-radius:4px;padding:2px;cursor:pointer;display:flex;flex-direction:column;align-items:center;gap:2px}
.deep .dmap.on{border-color:#7cc4ff}
.deep .dmap canvas{display:block;image-rendering:pixelated}
.deep .dside{display:flex;flex-direction:column;gap:4px}
.deep .dlabel{font-weight:600}
.deep .dnext{margin:0;padding-left:22px}
.deep .dnext li span{opacity:.7;margin-left:8px;font-variant-numeric:tabular-nums}
.deep details pre{white-space:pre-wrap;word-break:break-word;font-size:11px;max-height:200px;overflow:auto;margin:4px 0 0}
.deep .dmeta{opacity:.6;font-size:11px}
.dheat .p,.dheat .cell{background:var(--dheat,transparent)!important}
`;
