/**
 * Fetches an image URL for `POST /api/analyze {"url": ...}`: http(s) only, a byte limit enforced while
 * streaming, one overall timeout, at most 3 redirects, and (unless allowed) only globally routable addresses
 * (src/server/address.ts parses every spelling). The check runs on each hop twice over: on an IP literal before
 * connecting (Node does no lookup for those) and in the socket's DNS lookup for names, so every redirect and
 * every resolution is checked and a rebinding DNS server cannot slip past it.
 *
 * Every failure past URL syntax (private address, DNS failure, refused, HTTP status, too large, timeout) is one
 * UrlFetchError with one generic message, so the server cannot be used to map what answers where; the detailed
 * reason (hosts clipped) is kept on the error for the server log.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { BadInputError, NetworkError } from '../errors.js';
import { isIpLiteral, isPublicAddress } from './address.js';
import { formatBytes } from './limits.js';

export interface FetchUrlOptions {
  maxBytes: number;
  timeoutMs: number;
  /** Allow loopback/private/link-local targets (tests, or a server that is trusted to reach its LAN). */
  allowPrivate: boolean;
  /** Overrides the address policy (an allow-list); by default only public addresses, unless allowPrivate. */
  allowAddress?: (address: string) => boolean;
}

function policy(opts: FetchUrlOptions): (address: string) => boolean {
  return opts.allowAddress ?? (opts.allowPrivate ? () => true : isPublicAddress);
}

/** True for addresses a public-facing fetch must not reach (any IPv4/IPv6 spelling; see address.ts). */
export function isPrivateAddress(addr: string): boolean {
  return !isPublicAddress(addr);
}

export const URL_FETCH_FAILED = 'could not fetch an image from that URL';

/** The one error every failed fetch gives; `reason` is for the server log only. */
export class UrlFetchError extends NetworkError {
  readonly reason: string;
  constructor(reason: string, cause?: unknown) {
    super(URL_FETCH_FAILED, {
      hint: 'give a public http(s) link to a JPEG, PNG, GIF or WebP image, or upload the file instead',
      cause,
    });
    this.reason = clip(reason, 300);
  }
}

/** `s` cut to `n` characters with a marker saying how much was cut (for messages and log lines). */
export function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}... (${s.length - n} more characters)`;
}

class PrivateAddressError extends Error {}

function guardedLookup(allowed: (address: string) => boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const bad = addresses.find((a) => !allowed(a.address));
      if (bad) {
        const e = new PrivateAddressError(
          `${clip(hostname, 100)} resolves to a non-public address ${bad.address}`,
        );
        return callback(e as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** Longest URL accepted: browsers and CDNs stop well before this. */
export const MAX_URL_LENGTH = 8192;

function parseUrl(raw: string): URL {
  if (raw.length > MAX_URL_LENGTH) {
    throw new BadInputError(`"url" is ${raw.length} characters long, over the limit of ${MAX_URL_LENGTH}`, {
      hint: 'send a shorter http(s) URL, or upload the file instead',
    });
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadInputError(`"url" is not a valid URL: ${clip(raw, 100)}`, { hint: 'send an http(s) URL' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BadInputError(`"url" must be http or https, got ${clip(url.protocol, 20)}`, {
      hint: 'send an http(s) URL',
    });
  }
  return url;
}

/** Downloads the image at `raw`; throws BadInputError (bad URL syntax) or UrlFetchError (anything else). */
export async function fetchImageUrl(raw: string, opts: FetchUrlOptions): Promise<Uint8Array> {
  let url = parseUrl(raw);
  const deadline = Date.now() + opts.timeoutMs;
  for (let redirects = 0; ; redirects++) {
    const res = await getOnce(url, opts, deadline);
    if ('location' in res) {
      if (redirects >= 3) throw new UrlFetchError(`too many redirects fetching ${clip(raw, 100)}`);
      let next: URL;
      try {
        next = parseUrl(new URL(res.location, url).toString());
      } catch (e) {
        throw new UrlFetchError(`bad redirect from ${clip(url.host, 100)}: ${(e as Error).message}`, e);
      }
      url = next;
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
  const host = clip(url.host, 100);
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIpLiteral(literal) && !policy(opts)(literal)) {
    return Promise.reject(new UrlFetchError(`${host} is a non-public address`));
  }
  if (url.hostname.length > 253) {
    return Promise.reject(new UrlFetchError(`host name of ${url.hostname.length} characters`));
  }
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const remaining = Math.max(1, deadline - Date.now());
    const req = mod.get(url, { lookup: guardedLookup(policy(opts)), timeout: remaining }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        return resolve({ location: res.headers.location });
      }
      if (status !== 200) {
        res.resume();
        return reject(new UrlFetchError(`${host} gave HTTP ${status}`));
      }
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        req.destroy();
        return reject(
          new UrlFetchError(`${host} declares ${declared} bytes, over ${formatBytes(opts.maxBytes)}`),
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          req.destroy();
          reject(new UrlFetchError(`${host} sent more than ${formatBytes(opts.maxBytes)}`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ body: new Uint8Array(Buffer.concat(chunks)) }));
      res.on('error', (cause) => reject(new UrlFetchError(`reading ${host} failed`, cause)));
    });
    const timer = setTimeout(() => req.destroy(new Error('timeout')), remaining);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (cause) => {
      const why =
        cause.message === 'timeout'
          ? `${host} took longer than ${Math.round(opts.timeoutMs / 1000)} s`
          : cause instanceof PrivateAddressError
            ? cause.message
            : `${host}: ${clip(cause.message, 200)}`;
      reject(new UrlFetchError(why, cause));
    });
  });
}
