/**
 * Fetches an image URL (or reads stdin) with a byte limit and a timeout, for the CLI's `<URL>` / `-` inputs
 * and the server's {"url": ...} requests.
 */
import { BadInputError, NetworkError, TooLargeError } from '../errors.js';

export const DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024;

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

export async function fetchLimited(
  url: string,
  opts: { maxBytes?: number; timeoutMs?: number } = {},
): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  if (!isUrl(url)) throw new BadInputError(`not an http(s) URL: ${url}`);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (e) {
    const why =
      (e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : (e as Error).message;
    throw new NetworkError(`could not fetch ${url}: ${why}`, {
      cause: e,
      hint: 'check the URL and your connection',
    });
  }
  if (!res.ok)
    throw new NetworkError(`could not fetch ${url}: HTTP ${res.status}`, { hint: 'check the URL' });
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new TooLargeError(`${url} is ${declared} bytes, over the ${maxBytes}-byte limit`);
  }
  return readLimited(res.body, maxBytes, url);
}

/** Reads a web or Node stream fully, failing once more than maxBytes arrive. */
export async function readLimited(
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | null,
  maxBytes: number,
  what: string,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    n += chunk.byteLength;
    if (n > maxBytes) throw new TooLargeError(`${what} is over the ${maxBytes}-byte limit`);
    chunks.push(chunk);
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}
