import { deflateSync } from 'node:zlib';
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

/** A PNG whose header claims width x height, with one small IDAT: decoding it would take the whole size. */
export function bombPng(width: number, height: number): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat = deflateSync(Buffer.alloc(1 << 16));
  return new Uint8Array(
    Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]),
  );
}
