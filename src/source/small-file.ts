/**
 * Reading a model's small files (config.json, tokenizer.json, the shard index, an image path) safely: only
 * from a regular file (a FIFO would block forever, /dev/zero would grow memory without bound, a directory
 * gives EISDIR), opened non-blocking so that a FIFO swapped in after the check cannot hang the open, and
 * never more than a size cap, checked on the open file and again while reading.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { BadInputError, CheckpointError, TooLargeError } from '../errors.js';

function formatSize(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${n} bytes`;
}

/** Largest small file read whole: tokenizer.json of the largest vocabularies is about 35 MB. */
export const MAX_SMALL_FILE_BYTES = 256 << 20;

export interface SmallFileOptions {
  maxBytes?: number;
  /** Which error class a bad file gives: the model's files are checkpoint errors, an image path is bad input. */
  kind?: 'checkpoint' | 'input';
}

/** The file's bytes, or null when it does not exist. Throws for a non-regular file or one over the cap. */
export async function readSmallFile(path: string, opts: SmallFileOptions = {}): Promise<Uint8Array | null> {
  const maxBytes = opts.maxBytes ?? MAX_SMALL_FILE_BYTES;
  const Err = opts.kind === 'input' ? BadInputError : CheckpointError;
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new Err(`${path}: cannot be opened (${code ?? (e as Error).message})`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      const what = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : 'not a regular file';
      throw new Err(`${path} is ${what}; a regular file is needed`, {
        hint: 'replace it with the real file (symlinks to devices or pipes are refused)',
      });
    }
    if (st.size > maxBytes) {
      throw new TooLargeError(`${path} is ${formatSize(st.size)}, over the limit of ${formatSize(maxBytes)}`);
    }
    // One byte more than the stat said, so that a file growing while it is read is caught.
    const buf = new Uint8Array(st.size + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.byteLength - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.byteLength) throw new Err(`${path} changed size while it was read`);
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}
