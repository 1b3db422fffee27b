/**
 * Which images a batch reads: file paths, directories (every image file below them, recursively) and globs
 * (`*`, `?`, `[abc]`, `{a,b}` within a path segment, `**` for any number of folders), expanded once, sorted and
 * de-duplicated. Paths are kept as the user wrote them (relative stays relative): they are the keys of the
 * output lines, of resuming and of sharding, so a dataset split across machines shards identically wherever it
 * is mounted, as long as every machine runs from the same folder with the same arguments.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';

/** File name endings a directory or glob expands to (case-insensitive); explicit files are taken as given. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif'] as const;

export function isImageName(path: string): boolean {
  const lower = path.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

const GLOB_CHARS = /[*?[{]/;

export function isGlob(spec: string): boolean {
  return GLOB_CHARS.test(spec);
}

/** One glob path segment as a regular expression source (no `/` inside). */
function segmentRegex(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 1);
      if (end < 0) throw new BadInputError(`glob ${seg}: unclosed [`);
      const body = seg.slice(i + 1, end);
      out += `[${body.startsWith('!') ? '^' + body.slice(1) : body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '{') {
      const end = seg.indexOf('}', i + 1);
      if (end < 0) throw new BadInputError(`glob ${seg}: unclosed {`);
      out += `(?:${seg
        .slice(i + 1, end)
        .split(',')
        .map((alt) => segmentRegex(alt))
        .join('|')})`;
      i = end;
    } else out += c.replace(/[.+^$()|\\]/g, '\\$&');
  }
  return out;
}

/** A whole glob (forward slashes) as an anchored regular expression over paths written the same way. */
export function globToRegExp(glob: string): RegExp {
  const parts = glob.split('/');
  let src = '';
  parts.forEach((p, i) => {
    const last = i === parts.length - 1;
    if (p === '**') src += last ? '.*' : '(?:[^/]+/)*';
    else src += segmentRegex(p) + (last ? '' : '/');
  });
  return new RegExp(`^${src}$`);
}

/** Every file below `dir` (recursively, following no symlinked folders), as `dir/...` paths. */
async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const p = dir === '.' ? e.name : join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile()) out.push(p);
  }
}

async function expandGlob(spec: string): Promise<string[]> {
  const parts = spec.split('/');
  const firstGlob = parts.findIndex((p) => isGlob(p));
  const base = parts.slice(0, firstGlob).join('/') || (spec.startsWith('/') ? '/' : '.');
  const st = await stat(base).catch(() => undefined);
  if (!st?.isDirectory()) return [];
  const files: string[] = [];
  await walk(base, files);
  const re = globToRegExp(spec);
  return files.filter((f) => re.test(f) && isImageName(f));
}

/**
 * Expands files, directories and globs into a sorted list of distinct image paths. A path that does not exist,
 * or a glob or directory without images, is a BadInputError (almost always a typo).
 */
export async function expandInputs(specs: readonly string[]): Promise<string[]> {
  if (specs.length === 0) {
    throw new BadInputError('no images given', { hint: 'give image files, folders or globs (quote globs)' });
  }
  const out = new Set<string>();
  for (const spec of specs) {
    if (isGlob(spec)) {
      const st = await stat(spec).catch(() => undefined); // a file literally named with [ or {
      if (st?.isFile()) {
        out.add(spec);
        continue;
      }
      const found = await expandGlob(spec);
      if (found.length === 0)
        throw new BadInputError(`${spec} matches no image files (${IMAGE_EXTENSIONS.join(', ')})`);
      for (const f of found) out.add(f);
      continue;
    }
    const st = await stat(spec).catch(() => undefined);
    if (!st) throw new BadInputError(`no such file or folder: ${spec}`);
    if (st.isDirectory()) {
      const files: string[] = [];
      await walk(spec.replace(/\/+$/, '') || '/', files);
      const images = files.filter(isImageName);
      if (images.length === 0)
        throw new BadInputError(`folder ${spec} holds no image files (${IMAGE_EXTENSIONS.join(', ')})`);
      for (const f of images) out.add(f);
    } else out.add(spec);
  }
  return [...out].sort();
}
