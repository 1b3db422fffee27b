/**
 * SYNTHETIC deep-lens layer data for the viewer and renderer tests (not model output): `withDeep(result)` adds a
 * structurally valid ResultJson.deep (schema imgtokens.result/2) to a real or fixture result, with words chosen by
 * rules the tests can recompute:
 *
 * - at layer position l, token t's rank-j word is WORDS[(t + 3l + j) % WORDS.length], so every layer draws
 *   different words over the same patch;
 * - NEEDLE is placed at rank (l % k) + 1 in the top-k of every token with t % 4 === l % 4 (needleRank tells);
 * - tokens with t % 3 === 0 keep the final layer's top word from layer position 1 on (firstLayer tells).
 * Scores fall by rank; logit scores are logits (~ 20..10), embed scores cosines (~ 0.3..0.05).
 */
import type { DeepJson, ResultJson, WordScore } from '../../src/types.js';

export const WORDS = [
  'river',
  'stone',
  'cloud',
  'lamp',
  'horse',
  'window',
  'bread',
  'tower',
  'green',
  'music',
  'paper',
  'storm',
  'garden',
];
export const NEEDLE = 'needle';

export interface DeepSpec {
  /** hidden_states indices; default [0, 2, 4, 6, 8]. */
  layers?: number[];
  numLayers?: number;
  k?: number;
}

/** 1-based rank of NEEDLE in token t's top-k at layer position l, or 0 when absent. */
export function needleRank(t: number, l: number, k: number): number {
  return t % 4 === l % 4 ? (l % k) + 1 : 0;
}

function baseWord(t: number, l: number, j: number, n: number): string {
  // Tokens with t % 3 === 0 show the last layer's top word from position 1 on.
  const ll = t % 3 === 0 && l >= 1 && j === 0 ? n - 1 : l;
  return WORDS[(t + 3 * ll + j) % WORDS.length];
}

/** Token t's words at layer position l (of n), with NEEDLE inserted where needleRank says. */
export function syntheticTop(
  t: number,
  l: number,
  n: number,
  k: number,
  lens: 'logit' | 'embed',
): WordScore[] {
  const top: WordScore[] = [];
  const nr = needleRank(t, l, k);
  for (let j = 0; j < k; j++) {
    const text = nr === j + 1 ? NEEDLE : baseWord(t, l, j, n);
    const score = lens === 'logit' ? 20 - j - 0.01 * t : 0.3 - 0.02 * j - 0.0001 * t;
    top.push({ id: 100 + WORDS.indexOf(text) + (text === NEEDLE ? 50 : 0), text: ` ${text}`, score });
  }
  return top;
}

/** The first layer (hidden_states index) at which token t's final top word is its top word. */
export function firstLayer(t: number, layers: number[], k: number): number {
  const n = layers.length;
  const final = syntheticTop(t, n - 1, n, k, 'logit')[0].text;
  for (let l = 0; l < n; l++) if (syntheticTop(t, l, n, k, 'logit')[0].text === final) return layers[l];
  return layers[n - 1];
}

export function withDeep(result: ResultJson, spec: DeepSpec = {}): ResultJson {
  const layers = spec.layers ?? [0, 2, 4, 6, 8];
  const numLayers = spec.numLayers ?? 8;
  const k = spec.k ?? 5;
  const n = layers.length;
  const T = result.tokens.length;
  const deep: DeepJson = {
    reference: 'v4',
    prompt: {
      text: 'USER: <image>\nWhat is shown in this image? ASSISTANT:',
      ids: [1, 3148, 1001, 29901, 32000, 13],
      imagePositions: Array.from({ length: T }, (_, i) => 5 + i),
    },
    numLayers,
    k,
    layers: layers.map((layer, l) => ({
      layer,
      logit: Array.from({ length: T }, (_, t) => syntheticTop(t, l, n, k, 'logit')),
      embed: Array.from({ length: T }, (_, t) =>
        syntheticTop(t, l, n, k, 'embed')
          .reverse()
          .map((w, j) => ({
            ...w,
            score: 0.3 - 0.02 * j,
          })),
      ),
    })),
    next: [
      { id: 450, text: ' The', score: 0.41 },
      { id: 910, text: ' This', score: 0.22 },
      { id: 319, text: ' A', score: 0.12 },
    ],
  };
  return { ...result, schema: 'imgtokens.result/2', deep };
}
