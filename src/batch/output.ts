/**
 * The batch output, JSON Lines: one line per image, written with a single append each, so a crash leaves at
 * most one partial last line.
 *   {"image": "<path>", "result": <imgtokens.result/1>}   (result.image.name is the path too)
 *   {"image": "<path>", "error": "<message>"}               (the image could not be read or analysed)
 * Resuming reads the lines already there, cuts a partial last line off, and skips every image that has a line
 * (a result or an error: a bad file stays bad; delete its line to retry it).
 */
import { createReadStream } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import { BadInputError } from '../errors.js';
import type { LensMethod, ResultJson } from '../types.js';

export type BatchLine = { image: string; result: ResultJson } | { image: string; error: string };

export function formatLine(line: BatchLine): string {
  return `${JSON.stringify(line)}\n`;
}

export interface ExistingOutput {
  /** Images that already have a line. */
  done: Set<string>;
  /** Of those, how many are error lines. */
  errors: number;
  /** Bytes of a partial last line that were cut off (0 when the file ended cleanly). */
  truncatedBytes: number;
}

/**
 * Reads an existing output file (none = nothing done). A partial last line (no newline, e.g. after a crash) is
 * cut off the file. A complete line that is not a batch line, or a result of another method or k, is a
 * BadInputError: appending to it would mix runs.
 */
export async function readExisting(
  path: string,
  expect: { method: LensMethod; k: number },
): Promise<ExistingOutput> {
  const done = new Set<string>();
  let errors = 0;
  const st = await stat(path).catch(() => undefined);
  if (!st) return { done, errors, truncatedBytes: 0 };
  if (!st.isFile()) throw new BadInputError(`--out ${path} is not a file`);
  let pending: Buffer[] = [];
  let offset = 0; // bytes consumed
  let lastNewline = 0; // offset just past the last complete line
  let lineNo = 0;
  const onLine = (bytes: Buffer): void => {
    lineNo++;
    const text = bytes.toString('utf8').trim();
    if (text === '') return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new BadInputError(`${path}: line ${lineNo} is not JSON`, {
        hint: 'this is not an imgtokens batch output; choose another --out or remove the line',
      });
    }
    const o = v as Partial<{ image: unknown; result: ResultJson; error: unknown }>;
    if (
      typeof o !== 'object' ||
      o === null ||
      typeof o.image !== 'string' ||
      (!o.result && o.error === undefined)
    )
      throw new BadInputError(`${path}: line ${lineNo} is not an {"image", "result" | "error"} line`, {
        hint: 'choose another --out for imgtokens batch',
      });
    if (o.result && (o.result.method !== expect.method || o.result.k !== expect.k)) {
      throw new BadInputError(
        `${path}: line ${lineNo} holds a ${o.result.method} k=${o.result.k} result; this run is ${expect.method} k=${expect.k}`,
        { hint: 'resume with the same --method and -k, or write to a new --out' },
      );
    }
    if (o.result === undefined) errors++;
    done.add(o.image);
  };
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
      pending.push(chunk.subarray(start, i));
      onLine(Buffer.concat(pending));
      pending = [];
      start = i + 1;
      lastNewline = offset + i + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
    offset += chunk.length;
  }
  const truncatedBytes = offset - lastNewline;
  if (truncatedBytes > 0) await truncate(path, lastNewline);
  return { done, errors, truncatedBytes };
}

/** Appends lines to the output, one write per line. */
export class LineWriter {
  private constructor(private readonly fh: Awaited<ReturnType<typeof open>>) {}

  static async open(path: string): Promise<LineWriter> {
    return new LineWriter(await open(path, 'a'));
  }

  async write(line: BatchLine): Promise<void> {
    await this.fh.write(formatLine(line));
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
