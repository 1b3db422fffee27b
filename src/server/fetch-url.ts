/**
 * Fetches an image URL for `POST /api/analyze {"url": ...}`: http(s) only, a byte limit enforced while
 * streaming, one overall timeout, at most 3 redirects, and (unless allowed) no private, loopback or
 * link-local addresses. The address check runs in the socket's DNS lookup, so every redirect and every
 * resolution is checked and a rebinding DNS server cannot slip past it.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { BadInputError, NetworkError, TooLargeError } from '../errors.js';
import { checkUploadSize, formatBytes } from './limits.js';

export interface FetchUrlOptions {
  maxBytes: number;
  timeoutMs: number;
  /** Allow loopback/private/link-local targets (tests, or a server that is trusted to reach its LAN). */
  allowPrivate: boolean;
}

/** True for addresses a public-facing fetch must not reach. */
export function isPrivateAddress(addr: string): boolean {
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  if (isIP(v4) === 4) {
    const [a, b] = v4.split('.').map(Number);
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  const x = addr.toLowerCase();
  return x === '::' || x === '::1' || x.startsWith('fc') || x.startsWith('fd') || /^fe[89ab]/.test(x);
}

function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const bad = addresses.find((a) => !allowPrivate && isPrivateAddress(a.address));
      if (bad) {
        const e = new BadInputError(
          `the URL's host ${hostname} resolves to a private address (${bad.address})`,
          {
            hint: 'use a public image URL, or upload the file instead',
          },
        );
        return callback(e as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadInputError(`"url" is not a valid URL: ${raw.slice(0, 200)}`, {
      hint: 'send an http(s) URL',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BadInputError(`"url" must be http or https, got ${url.protocol}`, {
      hint: 'send an http(s) URL',
    });
  }
  return url;
}

/** Downloads the image at `raw`; throws BadInputError, TooLargeError or NetworkError. */
export async function fetchImageUrl(raw: string, opts: FetchUrlOptions): Promise<Uint8Array> {
  let url = parseUrl(raw);
  const deadline = Date.now() + opts.timeoutMs;
  for (let redirects = 0; ; redirects++) {
    const res = await getOnce(url, opts, deadline);
    if ('location' in res) {
      if (redirects >= 3) throw new NetworkError(`too many redirects fetching ${raw.slice(0, 200)}`);
      url = parseUrl(new URL(res.location, url).toString());
      continue;
    }
    return res.body;
  }
}

function getOnce(
  url: URL,
  opts: FetchUrlOptions,
  deadline: number,
): Promise<{ body: Uint8Array } | { location: string }> {
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && !opts.allowPrivate && isPrivateAddress(literal)) {
    return Promise.reject(
      new BadInputError(`the URL points at a private address (${literal})`, {
        hint: 'use a public image URL, or upload the file instead',
      }),
    );
  }
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const remaining = Math.max(1, deadline - Date.now());
    const req = mod.get(url, { lookup: guardedLookup(opts.allowPrivate), timeout: remaining }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        return resolve({ location: res.headers.location });
      }
      if (status !== 200) {
        res.resume();
        return reject(
          new NetworkError(`fetching ${url.host} gave HTTP ${status}`, { hint: 'check the URL' }),
        );
      }
      const declared = Number(res.headers['content-length'] ?? NaN);
      try {
        if (Number.isFinite(declared))
          checkUploadSize(declared, { maxUploadBytes: opts.maxBytes, maxPixels: 0 });
      } catch (e) {
        req.destroy();
        return reject(e);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          req.destroy();
          reject(
            new TooLargeError(
              `the image at ${url.host} is over this server's ${formatBytes(opts.maxBytes)} limit`,
              {
                hint: 'download and shrink the image, then upload it',
              },
            ),
          );
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ body: new Uint8Array(Buffer.concat(chunks)) }));
      res.on('error', (cause) => reject(new NetworkError(`reading ${url.host} failed`, { cause })));
    });
    const timer = setTimeout(() => req.destroy(new Error('timeout')), remaining);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (cause) => {
      if (cause instanceof BadInputError) return reject(cause);
      const timedOut = cause.message === 'timeout';
      reject(
        new NetworkError(
          timedOut
            ? `fetching ${url.host} took longer than ${Math.round(opts.timeoutMs / 1000)} s`
            : `could not fetch ${url.host}: ${cause.message}`,
          { hint: 'check the URL, or download the image and upload it', cause },
        ),
      );
    });
  });
}
