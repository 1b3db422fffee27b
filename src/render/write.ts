/**
 * Atomic file output for every renderer: write a temporary file beside the target, flush it, then rename it over
 * the target. A failure at any step removes the temporary file, so the target is either the old file (or absent)
 * or the complete new one, never half written.
 */

import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BadInputError } from '../errors.js';

/** Writes `data` to `path` atomically; errors are BadInputErrors naming the path and the system error. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let created = false;
  try {
    const fh = await open(tmp, 'wx', 0o644);
    created = true;
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    created = false;
  } catch (cause) {
    if (created) await unlink(tmp).catch(() => undefined);
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    const why = (cause as Error).message ?? String(cause);
    throw new BadInputError(`cannot write ${path}: ${code} (${why})`, {
      hint:
        code === 'EISDIR'
          ? 'the output path is a folder; give a file name'
          : 'check that the folder exists and is writable, or choose another output path',
      cause,
    });
  }
}
