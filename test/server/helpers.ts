/** Starts a server on a free loopback port for a test and returns its base URL and a stop function. */
import { createServer, type ImgTokensServer, type ServerOptions } from '../../src/server/index.js';

export async function startServer(
  opts: ServerOptions,
): Promise<{ url: string; srv: ImgTokensServer; stop: () => Promise<void> }> {
  const srv = createServer({ log: () => {}, ...opts });
  const { url } = await srv.listen(0, '127.0.0.1');
  return { url, srv, stop: () => srv.close() };
}

export function form(fields: Record<string, string | Blob | [Blob, string]>): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (Array.isArray(v)) f.append(k, v[0], v[1]);
    else f.append(k, v);
  }
  return f;
}

export const blob = (bytes: Uint8Array, type = 'application/octet-stream'): Blob =>
  new Blob([new Uint8Array(bytes)], { type });
