/**
 * Request parameters for /api/analyze, from form fields or the query string (form fields win), checked
 * into typed LensOptions with errors that name the field and its allowed values.
 */
import { BadInputError } from '../errors.js';
import { DEFAULT_K, DEFAULT_METHOD } from '../lens-methods.js';
import { parseViewChoice } from '../render/text.js';
import { LENS_METHODS, type ExcludeKind, type LensMethod, type ViewChoice } from '../types.js';

export interface AnalyzeParams {
  method: LensMethod;
  k: number;
  exclude: ExcludeKind[];
  /** Which view's tokens to return; 'all' keeps every view. */
  view: ViewChoice;
  /** Client-chosen id that ties server-sent progress events to this request. */
  requestId?: string;
  /** The deep lens's layers (all | a-b | i,j,k), checked against the model's layer count when it runs. */
  layers?: string;
  /** The deep lens's question (the model's chat template is applied). */
  prompt?: string;
}

/** The defaults of every entry point, from the lens-method table. */
export { DEFAULT_K, DEFAULT_METHOD };
const EXCLUDE_KINDS: readonly ExcludeKind[] = ['special', 'bytes'];

/** `get(name)` returns every value given for `name` (the form's, or else the query's); single-valued ones must be given once. */
export function parseAnalyzeParams(get: (name: string) => string[], maxK: number): AnalyzeParams {
  const one = (name: string): string | undefined => {
    const v = get(name);
    if (v.length > 1) throw new BadInputError(`"${name}" is given ${v.length} times; give it once`);
    return v.length > 0 ? v[0].trim() : undefined;
  };
  const method = one('method') ?? DEFAULT_METHOD;
  if (!(LENS_METHODS as readonly string[]).includes(method)) {
    throw new BadInputError(
      `"method" must be one of ${LENS_METHODS.join(', ')}; got "${method.slice(0, 40)}"`,
    );
  }
  const kRaw = one('k');
  const k = kRaw === undefined || kRaw === '' ? DEFAULT_K : Number(kRaw);
  if (!Number.isInteger(k) || k < 1 || k > maxK) {
    throw new BadInputError(
      `"k" must be a whole number from 1 to ${maxK}; got "${String(kRaw).slice(0, 40)}"`,
    );
  }
  const view = parseViewChoice(one('view') || 'all', '"view"');
  const exclude: ExcludeKind[] = [];
  for (const part of get('exclude').flatMap((v) => v.split(','))) {
    const x = part.trim();
    if (x === '' || x === 'none') continue;
    if (!(EXCLUDE_KINDS as readonly string[]).includes(x)) {
      throw new BadInputError(
        `"exclude" takes ${EXCLUDE_KINDS.join(', ')} (comma-separated); got "${x.slice(0, 40)}"`,
      );
    }
    if (!exclude.includes(x as ExcludeKind)) exclude.push(x as ExcludeKind);
  }
  const requestId = one('request');
  if (requestId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(requestId)) {
    throw new BadInputError('"request" must be 1-64 letters, digits, "-" or "_"');
  }
  const layers = one('layers') || undefined;
  if (layers !== undefined && !/^(all|[0-9][0-9 ,-]{0,200})$/.test(layers)) {
    throw new BadInputError(
      `"layers" must be all, a range a-b or a list i,j,k; got "${layers.slice(0, 40)}"`,
    );
  }
  const prompt = one('prompt') || undefined;
  if (prompt !== undefined && prompt.length > 2000)
    throw new BadInputError('"prompt" is over 2000 characters');
  if (prompt !== undefined && layers === undefined) {
    throw new BadInputError('"prompt" needs "layers" (it belongs to the deep lens)');
  }
  return {
    method: method as LensMethod,
    k,
    exclude,
    view: view as AnalyzeParams['view'],
    requestId,
    ...(layers !== undefined ? { layers } : {}),
    ...(prompt !== undefined ? { prompt } : {}),
  };
}
