/**
 * Request bodies for the API, bounded before they are parsed: a multipart or url-encoded form may hold at
 * most MAX_FORM_PARTS parts (counted on the raw bytes, in one linear pass, before the platform's parser
 * allocates anything per part), each text field at most MAX_FIELD_CHARS (the render's "result" field has its
 * own limit), single-valued fields only once; a JSON body is checked by scanJson (depth and string length,
 * in one iterative pass) before JSON.parse, so no input can make a validator recurse without bound.
 */
import { BadInputError, TooLargeError } from '../errors.js';
import { formatBytes } from './limits.js';

/** Parts (fields and files) one form may hold; the API needs fewer than a dozen. */
export const MAX_FORM_PARTS = 64;
/** Longest text field, except those given a larger limit by the caller. */
export const MAX_FIELD_CHARS = 4096;
/** Fields that take one value; a second copy is refused rather than silently ignored. */
export const SINGLE_VALUED = new Set([
  'image',
  'file',
  'url',
  'method',
  'k',
  'view',
  'request',
  'result',
  'format',
  'words',
]);

export interface ParsedForm {
  fields: Map<string, string[]>;
  file?: File;
}

/** Occurrences of `needle` in `hay` (non-overlapping), stopping once `stopAt` is exceeded. */
function countOccurrences(hay: Uint8Array, needle: Uint8Array, stopAt: number): number {
  const buf = Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength);
  let n = 0;
  for (let at = buf.indexOf(needle); at >= 0 && n <= stopAt; at = buf.indexOf(needle, at + needle.length))
    n++;
  return n;
}

function boundaryOf(type: string): string | undefined {
  const m = /boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(type);
  return m?.[1] ?? m?.[2];
}

/**
 * Parses a multipart/form-data or url-encoded body. `longFields` maps a field name to its own character limit.
 * Throws BadInputError naming the field and the limit.
 */
export async function parseForm(
  bytes: Uint8Array<ArrayBuffer>,
  contentType: string,
  longFields: ReadonlyMap<string, number> = new Map(),
): Promise<ParsedForm> {
  const multipart = contentType.toLowerCase().startsWith('multipart/form-data');
  let parts: number;
  if (multipart) {
    const boundary = boundaryOf(contentType);
    if (!boundary)
      throw new BadInputError('the multipart form has no boundary', { hint: 'send multipart/form-data' });
    // Each part opens with "--boundary"; the closing delimiter adds one more.
    parts = countOccurrences(bytes, Buffer.from(`--${boundary}`), MAX_FORM_PARTS + 1) - 1;
  } else {
    parts = bytes.byteLength === 0 ? 0 : countOccurrences(bytes, Buffer.from('&'), MAX_FORM_PARTS) + 1;
  }
  if (parts > MAX_FORM_PARTS) {
    throw new BadInputError(`the form has more than ${MAX_FORM_PARTS} fields`, {
      hint: 'send the image and each parameter once',
    });
  }
  let form: FormData;
  try {
    form = await new Response(bytes, { headers: { 'content-type': contentType } }).formData();
  } catch (cause) {
    throw new BadInputError('the form could not be parsed', { hint: 'send multipart/form-data', cause });
  }
  const fields = new Map<string, string[]>();
  let file: File | undefined;
  const seen = new Set<string>();
  let problem: BadInputError | undefined;
  form.forEach((v, k) => {
    if (problem) return;
    const name = k.length > 40 ? `${k.slice(0, 40)}...` : k;
    if (SINGLE_VALUED.has(k) && seen.has(k)) {
      problem = new BadInputError(`the form gives "${name}" more than once`, { hint: `send "${name}" once` });
      return;
    }
    seen.add(k);
    if (typeof v === 'string') {
      const max = longFields.get(k) ?? MAX_FIELD_CHARS;
      if (v.length > max) {
        problem = new BadInputError(
          `form field "${name}" is ${v.length} characters, over the limit of ${max}`,
        );
        return;
      }
      const list = fields.get(k);
      if (list) list.push(v);
      else fields.set(k, [v]);
    } else if (k === 'image' || k === 'file') {
      if (file) problem = new BadInputError('the form holds both "image" and "file"; send one image');
      file = v;
    }
  });
  if (problem) throw problem;
  return { fields, file };
}

export interface JsonLimits {
  maxDepth: number;
  maxStringChars: number;
}

/**
 * One linear, iterative pass over JSON text: the nesting depth and the longest string. Returns a message
 * naming the first limit broken, or null. It does not validate the syntax (JSON.parse does that next).
 */
export function scanJson(text: string, limits: JsonLimits): string | null {
  let depth = 0;
  let inString = false;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) {
        i++; // skip the escaped character
        run++;
      } else if (ch === 0x22) inString = false;
      else if (++run > limits.maxStringChars) {
        return `a string is longer than ${limits.maxStringChars} characters`;
      }
      continue;
    }
    if (ch === 0x22) {
      inString = true;
      run = 0;
    } else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > limits.maxDepth) return `it nests deeper than ${limits.maxDepth} levels`;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return null;
}

/** Throws TooLargeError when a JSON body breaks `limits` (before it is parsed). */
export function checkJsonText(text: string, what: string, limits: JsonLimits & { maxChars: number }): void {
  if (text.length > limits.maxChars) {
    throw new TooLargeError(
      `${what} is ${formatBytes(text.length)}, over the limit of ${formatBytes(limits.maxChars)}`,
    );
  }
  const problem = scanJson(text, limits);
  if (problem)
    throw new TooLargeError(`${what} is refused: ${problem}`, { hint: 'send a result written by imgtokens' });
}
