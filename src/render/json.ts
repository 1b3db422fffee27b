/**
 * JSON outputs: the versioned result (`imgtokens.result/1`, the input of every renderer) and the original tool's
 * `--save-words` grid. Both come with validators that list every problem with its JSON path, used by the tests,
 * by the CLI before rendering a saved result, and by anyone consuming the files.
 *
 * imgtokens.result/1 (full reference with an example in docs/result-schema.md):
 *   {
 *     schema: "imgtokens.result/1",
 *     model:  { id: string, modelType: string, revision?: string, vocabSize: int > 0, hidden: int > 0,
 *               imageBackend?: 'pil' | 'torchvision' },
 *     image:  { width: int > 0, height: int > 0, name?: string },   // the ORIGINAL image, before any resize
 *     method: string,                   // a lens method: a row of src/lens-methods.ts (LENS_METHODS)
 *     k: int >= 1,                      // words per token asked for; each `top` has at most k entries
 *     exclude: ("special" | "bytes")[], // vocabulary filters applied
 *     views: [{ name: "base" | "grid" | "tiles" | "thumbnail", rows, cols, start, count }],   // [start, start+count)
 *     tokens: [{                         // tokens[i] is row i of image_features, in LLM order
 *       index: i, kind: "patch" | "cls" | "newline", view: one of views' names,
 *       row, col,                        // in the view's token grid (-1 for cls; newline: the row it ends)
 *       box: { x, y, w, h } | null,      // original-image pixels, may be fractional; null unless a patch
 *       top: [{ id: int, text: string, score: finite number, gloss?: string }]   // best first
 *     }],
 *     specials?: [{ text: string,       // a text token among the image tokens ("<row_1_col_2>", "<img>", boi/eoi)
 *                   before: int,        // the index of the image token it precedes (tokens.length: after the last)
 *                   position: int }]    // its place in the image run, image tokens and specials counted from 0
 *     deep?: {                           // imgtokens.result/2 only: the deep lens (src/llm/deep.ts)
 *       reference: "v4" | "v5", compat?: "llava-interp",
 *       prompt: { text: string, ids: int[], imagePositions: int[] },   // one position per token, ascending
 *       numLayers: int >= 1, k: int >= 1,
 *       layers: [{ layer: int 0..numLayers (ascending), label?: string,
 *                  logit: Word[][], embed: Word[][] }],   // [tokens.length][<= k], best first
 *       next: Word[]                     // <= k, softmax probabilities in [0, 1], best first
 *     }
 *   }
 *
 * --save-words (as pifanpi/visualizing-vlm-tokens imgtokens.py `process_image_cli`): a JSON array of the view's
 * rows, each an array of its columns' strings; a string is the token's top `words` words joined by "\n", each
 * followed by " (gloss)" when it has one ("天 (sky)"). Words are the tokenizer's decoded text, unescaped. The
 * original tool only had the base view; we write the base view by default and the grid view on request.
 */

import { BadInputError } from '../errors.js';
import { LENS_METHODS, VIEW_NAMES, type ResultJson, type ViewName } from '../types.js';
import { viewGrid } from './text.js';

export const RESULT_SCHEMA = 'imgtokens.result/1';
/** The schema of a result with the deep lens (`deep`); readers accept both. */
export const RESULT_SCHEMA_DEEP = 'imgtokens.result/2';

/** The result as pretty JSON: two-space indentation, one token per line (diff- and grep-friendly). */
export function serializeResult(result: ResultJson): string {
  const problems = validateResult(result);
  if (problems.length > 0) {
    throw new BadInputError(`result is not a valid imgtokens.result: ${problems.slice(0, 5).join('; ')}`);
  }
  const { tokens, deep, ...head } = result;
  const headJson = JSON.stringify(head, null, 2);
  const tokenLines = tokens.map((t) => `    ${JSON.stringify(t)}`).join(',\n');
  const body = `${headJson.slice(0, -2)},\n  "tokens": [\n${tokenLines}\n  ]`;
  if (!deep) return `${body}\n}\n`;
  // The deep lens: one line per header field, then per layer one line per token and lens.
  const { layers, ...deepHead } = deep;
  const headLines = Object.entries(deepHead)
    .map(([key, v]) => `    ${JSON.stringify(key)}: ${JSON.stringify(v)}`)
    .join(',\n');
  const rows = (rs: unknown[]): string => rs.map((r) => `          ${JSON.stringify(r)}`).join(',\n');
  const layerText = layers
    .map((l) => {
      const { logit, embed, ...lh } = l;
      const h = JSON.stringify(lh).slice(1, -1);
      return `      {${h},\n        "logit": [\n${rows(logit)}\n        ],\n        "embed": [\n${rows(embed)}\n        ]\n      }`;
    })
    .join(',\n');
  return `${body},\n  "deep": {\n${headLines},\n    "layers": [\n${layerText}\n    ]\n  }\n}\n`;
}

/** Parses and validates a result file's text; a BadInputError lists the first problems with their JSON paths. */
export function parseResult(text: string, source = 'result'): ResultJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new BadInputError(`${source} is not JSON: ${(cause as Error).message}`, { cause });
  }
  const problems = validateResult(value);
  if (problems.length > 0) {
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    throw new BadInputError(
      `${source} is not a valid imgtokens.result (/1 or /2): ${problems.slice(0, 5).join('; ')}${more}`,
      {
        hint: 'write results with imgtokens --json, or see docs/result-schema.md',
      },
    );
  }
  return value as ResultJson;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const show = (v: unknown): string =>
  v === undefined ? 'nothing' : (JSON.stringify(v)?.slice(0, 40) ?? String(v));

/** Every way `value` fails to be a valid imgtokens.result/1, as "path: problem" strings; [] when valid. */
export function validateResult(value: unknown): string[] {
  const p: string[] = [];
  const want = (ok: boolean, path: string, what: string, got: unknown): boolean => {
    if (!ok) p.push(`${path}: expected ${what}, got ${show(got)}`);
    return ok;
  };
  if (!want(isObj(value), '$', 'an object', value)) return p;
  const r = value as Obj;
  if (r.deep === undefined) {
    // /2 is the schema of a result WITH the deep lens; without it a result is /1.
    want(r.schema === RESULT_SCHEMA, 'schema', `"${RESULT_SCHEMA}" (without deep; /2 has deep)`, r.schema);
  } else {
    want(
      r.schema === RESULT_SCHEMA_DEEP,
      'schema',
      `"${RESULT_SCHEMA_DEEP}" (the result has deep)`,
      r.schema,
    );
  }

  let vocabSize = Infinity;
  if (want(isObj(r.model), 'model', 'an object', r.model)) {
    const m = r.model as Obj;
    want(typeof m.id === 'string' && m.id !== '', 'model.id', 'a non-empty string', m.id);
    want(typeof m.modelType === 'string', 'model.modelType', 'a string', m.modelType);
    if (m.revision !== undefined)
      want(typeof m.revision === 'string', 'model.revision', 'a string', m.revision);
    if (want(isInt(m.vocabSize) && m.vocabSize > 0, 'model.vocabSize', 'a positive integer', m.vocabSize)) {
      vocabSize = m.vocabSize as number;
    }
    want(isInt(m.hidden) && m.hidden > 0, 'model.hidden', 'a positive integer', m.hidden);
    if (m.imageBackend !== undefined)
      want(
        m.imageBackend === 'pil' || m.imageBackend === 'torchvision',
        'model.imageBackend',
        '"pil" or "torchvision"',
        m.imageBackend,
      );
  }
  let iw = Infinity;
  let ih = Infinity;
  if (want(isObj(r.image), 'image', 'an object', r.image)) {
    const im = r.image as Obj;
    if (want(isInt(im.width) && im.width > 0, 'image.width', 'a positive integer', im.width))
      iw = im.width as number;
    if (want(isInt(im.height) && im.height > 0, 'image.height', 'a positive integer', im.height)) {
      ih = im.height as number;
    }
    if (im.name !== undefined) want(typeof im.name === 'string', 'image.name', 'a string', im.name);
  }
  want(LENS_METHODS.includes(r.method as never), 'method', `one of ${LENS_METHODS.join(', ')}`, r.method);
  const k = isInt(r.k) && r.k >= 1 ? r.k : Infinity;
  want(k !== Infinity, 'k', 'an integer >= 1', r.k);
  if (want(Array.isArray(r.exclude), 'exclude', 'an array', r.exclude)) {
    (r.exclude as unknown[]).forEach((e, i) =>
      want(e === 'special' || e === 'bytes', `exclude[${i}]`, '"special" or "bytes"', e),
    );
  }

  const tokens = Array.isArray(r.tokens) ? (r.tokens as unknown[]) : null;
  want(tokens !== null, 'tokens', 'an array', r.tokens);
  const viewNames = new Map<string, Obj>();
  if (want(Array.isArray(r.views) && r.views.length > 0, 'views', 'a non-empty array', r.views)) {
    (r.views as unknown[]).forEach((v, i) => {
      const at = `views[${i}]`;
      if (!want(isObj(v), at, 'an object', v)) return;
      const vo = v as Obj;
      if (
        want(
          VIEW_NAMES.includes(vo.name as ViewName),
          `${at}.name`,
          `one of ${VIEW_NAMES.join(', ')}`,
          vo.name,
        )
      ) {
        want(!viewNames.has(vo.name as string), `${at}.name`, 'a name used once', vo.name);
        viewNames.set(vo.name as string, vo);
      }
      for (const f of ['rows', 'cols', 'start', 'count'] as const) {
        want(isInt(vo[f]) && (vo[f] as number) >= 0, `${at}.${f}`, 'a non-negative integer', vo[f]);
      }
      if (tokens && isInt(vo.start) && isInt(vo.count)) {
        want(
          vo.start + vo.count <= tokens.length,
          `${at}`,
          `start + count <= ${tokens.length} tokens`,
          vo.start + vo.count,
        );
      }
    });
  }

  const words = (list: unknown, at: string, max: number, probs: boolean): void => {
    if (!want(Array.isArray(list), at, 'an array', list)) return;
    const top = list as unknown[];
    want(top.length <= max, at, `at most k = ${max} words`, top.length);
    let prev = Infinity;
    top.forEach((w, j) => {
      const wat = `${at}[${j}]`;
      if (!want(isObj(w), wat, 'an object', w)) return;
      const wo = w as Obj;
      want(
        isInt(wo.id) && wo.id >= 0 && wo.id < vocabSize,
        `${wat}.id`,
        `an integer in [0, ${vocabSize})`,
        wo.id,
      );
      want(typeof wo.text === 'string', `${wat}.text`, 'a string', wo.text);
      const okScore = isNum(wo.score) && (!probs || (wo.score >= 0 && wo.score <= 1));
      if (want(okScore, `${wat}.score`, probs ? 'a probability in [0, 1]' : 'a finite number', wo.score)) {
        want((wo.score as number) <= prev + 1e-6, `${wat}.score`, `best first (<= ${prev})`, wo.score);
        prev = wo.score as number;
      }
      if (wo.gloss !== undefined) want(typeof wo.gloss === 'string', `${wat}.gloss`, 'a string', wo.gloss);
    });
  };
  if (r.deep !== undefined) validateDeep(r.deep, tokens?.length ?? 0, want, words);

  tokens?.forEach((t, i) => {
    const at = `tokens[${i}]`;
    if (!want(isObj(t), at, 'an object', t)) return;
    const to = t as Obj;
    want(to.index === i, `${at}.index`, `${i} (its position)`, to.index);
    const kindOk = want(
      ['patch', 'cls', 'newline'].includes(to.kind as string),
      `${at}.kind`,
      'patch, cls or newline',
      to.kind,
    );
    if (
      want(
        viewNames.has(to.view as string),
        `${at}.view`,
        `a view in views (${[...viewNames.keys()].join(', ')})`,
        to.view,
      )
    ) {
      const v = viewNames.get(to.view as string) as Obj;
      if (isInt(v.start) && isInt(v.count)) {
        want(
          i >= v.start && i < v.start + v.count,
          `${at}.view`,
          `the view whose range holds index ${i}`,
          to.view,
        );
      }
    }
    want(isInt(to.row) && to.row >= -1, `${at}.row`, 'an integer >= -1', to.row);
    want(isInt(to.col) && to.col >= -1, `${at}.col`, 'an integer >= -1', to.col);
    if (kindOk && to.kind === 'patch') {
      if (want(isObj(to.box), `${at}.box`, 'a box {x, y, w, h} for a patch token', to.box)) {
        const b = to.box as Obj;
        const ok = isNum(b.x) && isNum(b.y) && isNum(b.w) && isNum(b.h) && b.w > 0 && b.h > 0;
        if (want(ok, `${at}.box`, 'finite x, y and positive w, h', b)) {
          const eps = 1e-3;
          const inside =
            (b.x as number) >= -eps &&
            (b.y as number) >= -eps &&
            (b.x as number) + (b.w as number) <= iw + eps &&
            (b.y as number) + (b.h as number) <= ih + eps;
          want(inside, `${at}.box`, `a box inside the ${iw}×${ih} image`, b);
        }
      }
    } else if (kindOk) {
      want(to.box === null, `${at}.box`, `null for a ${String(to.kind)} token`, to.box);
    }
    words(to.top, `${at}.top`, k, false);
  });
  if (r.specials !== undefined && want(Array.isArray(r.specials), 'specials', 'an array', r.specials)) {
    const n = tokens?.length ?? Infinity;
    let last = -1;
    (r.specials as unknown[]).forEach((sp, i) => {
      const at = `specials[${i}]`;
      if (!want(isObj(sp), at, 'an object', sp)) return;
      const so = sp as Obj;
      want(typeof so.text === 'string' && so.text !== '', `${at}.text`, 'the token text', so.text);
      const before = so.before;
      want(isInt(before) && before >= 0 && before <= n, `${at}.before`, `an integer in [0, ${n}]`, before);
      // position = image tokens before it + specials before it, so it is fixed by `before` and the order
      want(so.position === (before as number) + i, `${at}.position`, `before + ${i}`, so.position);
      if (isInt(so.position)) {
        want((so.position as number) > last, `${at}.position`, 'ascending', so.position);
        last = so.position as number;
      }
    });
  }
  return p;
}

type Want = (ok: boolean, path: string, what: string, got: unknown) => boolean;
type Words = (list: unknown, at: string, max: number, probs: boolean) => void;

/** The `deep` object of an imgtokens.result/2 (see the schema above); problems go to `want`. */
function validateDeep(value: unknown, nTokens: number, want: Want, words: Words): void {
  if (!want(isObj(value), 'deep', 'an object', value)) return;
  const d = value as Obj;
  want(d.reference === 'v4' || d.reference === 'v5', 'deep.reference', '"v4" or "v5"', d.reference);
  if (d.compat !== undefined) want(d.compat === 'llava-interp', 'deep.compat', '"llava-interp"', d.compat);
  const numLayers = isInt(d.numLayers) && d.numLayers >= 1 ? d.numLayers : -1;
  want(numLayers >= 1, 'deep.numLayers', 'an integer >= 1', d.numLayers);
  const k = isInt(d.k) && d.k >= 1 ? d.k : Infinity;
  want(k !== Infinity, 'deep.k', 'an integer >= 1', d.k);
  if (want(isObj(d.prompt), 'deep.prompt', 'an object', d.prompt)) {
    const p = d.prompt as Obj;
    want(typeof p.text === 'string', 'deep.prompt.text', 'a string', p.text);
    const ids = Array.isArray(p.ids) ? (p.ids as unknown[]) : null;
    want(ids !== null && ids.every(isInt), 'deep.prompt.ids', 'an array of token ids', p.ids);
    const pos = Array.isArray(p.imagePositions) ? (p.imagePositions as unknown[]) : null;
    if (want(pos !== null, 'deep.prompt.imagePositions', 'an array', p.imagePositions)) {
      want(
        pos!.length === nTokens,
        'deep.prompt.imagePositions',
        `${nTokens} positions (one per token)`,
        pos!.length,
      );
      let prev = -1;
      pos!.forEach((q, i) => {
        const ok = isInt(q) && q > prev && (ids === null || q < ids.length);
        want(ok, `deep.prompt.imagePositions[${i}]`, 'an ascending position inside ids', q);
        if (isInt(q)) prev = q;
      });
    }
  }
  if (want(Array.isArray(d.layers) && d.layers.length > 0, 'deep.layers', 'a non-empty array', d.layers)) {
    let prev = -1;
    (d.layers as unknown[]).forEach((l, i) => {
      const at = `deep.layers[${i}]`;
      if (!want(isObj(l), at, 'an object', l)) return;
      const lo = l as Obj;
      const ok = isInt(lo.layer) && lo.layer > prev && lo.layer <= numLayers;
      want(ok, `${at}.layer`, `an ascending hidden-state index in [0, ${numLayers}]`, lo.layer);
      if (isInt(lo.layer)) prev = lo.layer;
      if (lo.label !== undefined) want(typeof lo.label === 'string', `${at}.label`, 'a string', lo.label);
      for (const lens of ['logit', 'embed'] as const) {
        const rows = lo[lens];
        if (!want(Array.isArray(rows) && rows.length === nTokens, `${at}.${lens}`, `${nTokens} rows`, rows))
          continue;
        (rows as unknown[]).forEach((row, t) => words(row, `${at}.${lens}[${t}]`, k, false));
      }
    });
  }
  words(d.next, 'deep.next', k, true);
}

export interface SaveWordsOptions {
  /** Which view; default 'base' (the original tool's only view). */
  view?: ViewName;
  /** Words per cell, joined by "\n"; default 1. */
  words?: number;
  /** Append " (gloss)" to words that have one, as the original tool did; default true. */
  glosses?: boolean;
}

/** The --save-words grid: rows × cols strings for one view ('' where a cell has no token). */
export function wordsGrid(result: ResultJson, options: SaveWordsOptions = {}): string[][] {
  const n = options.words ?? 1;
  const glosses = options.glosses ?? true;
  return viewGrid(result, options.view ?? 'base', (t) =>
    t.top
      .slice(0, n)
      .map((w) => (glosses && w.gloss ? `${w.text} (${w.gloss})` : w.text))
      .join('\n'),
  ).grid;
}

/** The --save-words file text: the grid as compact JSON, one row per line. */
export function serializeWords(grid: string[][]): string {
  return `[\n${grid.map((row) => `  ${JSON.stringify(row)}`).join(',\n')}\n]\n`;
}

/** Every way `value` fails to be a --save-words grid (a non-empty array of equal-length string arrays); [] if valid. */
export function validateWordsGrid(value: unknown): string[] {
  if (!Array.isArray(value)) return [`$: expected an array of rows, got ${show(value)}`];
  if (value.length === 0) return ['$: expected at least one row'];
  const p: string[] = [];
  const cols = Array.isArray(value[0]) ? value[0].length : -1;
  value.forEach((row, i) => {
    if (!Array.isArray(row)) return void p.push(`[${i}]: expected an array of strings, got ${show(row)}`);
    if (row.length !== cols) p.push(`[${i}]: expected ${cols} columns like row 0, got ${row.length}`);
    row.forEach((c, j) => {
      if (typeof c !== 'string') p.push(`[${i}][${j}]: expected a string, got ${show(c)}`);
    });
  });
  return p;
}
