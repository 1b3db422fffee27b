/**
 * Fonts for the PNG renderer. Vocabulary words mix Latin, CJK, kana, Hangul, Cyrillic and symbols, and system
 * fonts cannot be relied on (servers and CI have none with CJK), so we register Noto Sans SC (Latin, Cyrillic,
 * Greek, CJK, kana) and Noto Sans KR (Hangul) from the @fontsource-variable npm packages (OFL-1.1): variable-weight
 * WOFF2 files split by Unicode range, which @napi-rs/canvas (Skia) loads directly. Registering every slice under
 * one alias lets Skia pick, glyph by glyph, the slice that has it.
 */

import { GlobalFonts } from '@napi-rs/canvas';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ImgTokensError } from '../errors.js';

const require = createRequire(import.meta.url);

/** [alias, npm package] in fallback order. */
const FAMILIES: ReadonlyArray<readonly [string, string]> = [
  ['imgtokens Sans', '@fontsource-variable/noto-sans-sc'],
  ['imgtokens Sans KR', '@fontsource-variable/noto-sans-kr'],
];

let registered: string | null = null;

function fontDir(pkg: string): string {
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), 'files');
  } catch (cause) {
    throw new ImgTokensError('internal', `font package ${pkg} is not installed`, {
      hint: 'run `npm install` in the imgtokens folder; rendering needs its bundled fonts',
      cause,
    });
  }
}

/**
 * Registers the bundled fonts with @napi-rs/canvas (once per process) and returns the CSS font-family list to use,
 * e.g. `'"imgtokens Sans", "imgtokens Sans KR"'`.
 */
export function registerFonts(): string {
  if (registered !== null) return registered;
  for (const [alias, pkg] of FAMILIES) {
    const dir = fontDir(pkg);
    // Latin-script slices first, so that a word's Latin letters come from one consistent slice.
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.woff2'))
      .sort((a, b) => Number(/-\d+-wght/.test(a)) - Number(/-\d+-wght/.test(b)) || a.localeCompare(b));
    let ok = 0;
    for (const f of files) if (GlobalFonts.registerFromPath(join(dir, f), alias)) ok++;
    if (ok === 0) {
      throw new ImgTokensError('internal', `no font in ${dir} could be loaded by @napi-rs/canvas`, {
        hint: 'reinstall dependencies (`npm ci`); the WOFF2 files may be damaged',
      });
    }
  }
  registered = FAMILIES.map(([alias]) => `"${alias}"`).join(', ');
  return registered;
}

/** One WOFF2 slice of a bundled font: the characters it covers, as a CSS unicode-range. */
export interface FontSlice {
  family: string;
  path: string;
  unicodeRange: string;
  bytes: number;
}

interface SliceIndex {
  slice: FontSlice;
  ranges: Array<[number, number]>;
}
let sliceIndex: SliceIndex[] | null = null;

/** Every slice of the bundled fonts with its code-point ranges, read from the packages' unicode.json. */
function slices(): SliceIndex[] {
  if (sliceIndex) return sliceIndex;
  const out: SliceIndex[] = [];
  for (const [alias, pkg] of FAMILIES) {
    const dir = fontDir(pkg);
    const stem = pkg.split('/')[1];
    // unicode.json: {"[12]": "U+4e00-4e3f,U+5927", "latin": "U+0000-00ff,...", ...}
    const table = JSON.parse(readFileSync(join(dir, '..', 'unicode.json'), 'utf8')) as Record<string, string>;
    for (const [key, range] of Object.entries(table)) {
      const path = join(dir, `${stem}-${key.replace(/^\[(\d+)\]$/, '$1')}-wght-normal.woff2`);
      const ranges = range.split(',').map((r): [number, number] => {
        const [a, b] = r.trim().replace(/^U\+/i, '').split('-');
        return [parseInt(a, 16), parseInt(b ?? a, 16)];
      });
      out.push({ slice: { family: alias, path, unicodeRange: range, bytes: statSync(path).size }, ranges });
    }
  }
  sliceIndex = out;
  return out;
}

/**
 * The font slices needed to draw `text`: for each character, the first slice that covers it (Noto Sans SC first,
 * then KR; KR first for Hangul). Used by the HTML renderer to embed only the glyphs a page uses.
 */
export function fontSlicesFor(text: string): FontSlice[] {
  const need = new Set<number>();
  for (const ch of text) need.add(ch.codePointAt(0) ?? 0);
  const chosen = new Set<SliceIndex>();
  const all = slices();
  for (const cp of need) {
    if (cp < 0x20) continue;
    // Noto Sans SC's slices list some Hangul code points it has no glyphs for, so Hangul goes to the KR font.
    const order = isHangul(cp) ? [...all].reverse() : all;
    const hit = order.find((s) => s.ranges.some(([a, b]) => cp >= a && cp <= b));
    if (hit) chosen.add(hit);
  }
  return all.filter((s) => chosen.has(s)).map((s) => s.slice);
}

function isHangul(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x11ff) ||
    (cp >= 0x3130 && cp <= 0x318f) ||
    (cp >= 0xa960 && cp <= 0xa97f) ||
    (cp >= 0xac00 && cp <= 0xd7ff)
  );
}
