/**
 * Which IP addresses a public-facing URL fetch may reach. Every textual form is parsed into bytes first, so
 * no spelling slips past: IPv4 in dotted, decimal, octal or hex (inet_aton forms such as 0x7f.1, 2130706433,
 * 0177.0.0.1), IPv6 in any compression, IPv4-mapped (::ffff:0:0/96, ::ffff:7f00:1 as well as
 * ::ffff:127.0.0.1), IPv4-compatible (::/96), NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48), 6to4
 * (2002::/16) and Teredo (2001::/32), whose embedded IPv4 address is what the packet reaches. Special-purpose
 * ranges follow the IANA registries (RFC 6890 and its updates): anything not globally routable is refused.
 */
import { isIPv6 } from 'node:net';

/** Parses an IPv4 address the way inet_aton does (1-4 parts, each decimal, 0-octal or 0x-hex); null if not one. */
export function parseIPv4(s: string): number[] | null {
  if (s.length === 0 || s.length > 64) return null;
  const parts = s.split('.');
  if (parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]+$/.test(p)) n = parseInt(p.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(p)) n = Number(p);
    else return null;
    if (!Number.isSafeInteger(n)) return null;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
  const out = [...nums];
  for (let i = 3 - nums.length; i >= 0; i--) out.push(Math.floor(last / 256 ** i) % 256);
  return out;
}

/** Parses an IPv6 address (brackets and a %zone allowed) into 16 bytes; null if not one. */
export function parseIPv6(raw: string): number[] | null {
  let s = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  // node decides what a valid zone is ("::%" is not); the groups are parsed without it
  if (!isIPv6(s)) return null;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // a trailing dotted quad is two 16-bit groups
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return null;
    const hex = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);
    s = `${s.slice(0, lastColon + 1)}${hex(v4[0], v4[1])}:${hex(v4[2], v4[3])}`;
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const h = groups(halves[0]);
  const r = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - h.length - r.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0) || [...h, ...r].some((w) => !(w >= 0 && w <= 0xffff)))
    return null;
  const bytes: number[] = [];
  for (const w of [...h, ...Array<number>(fill).fill(0), ...r]) bytes.push(w >> 8, w & 0xff);
  return bytes;
}

function isPublicIPv4([a, b, c]: number[]): boolean {
  if (a === 0 || a === 10 || a === 127) return false; // "this network", private, loopback
  if (a === 100 && b >= 64 && b < 128) return false; // shared address space (CGN)
  if (a === 169 && b === 254) return false; // link-local (cloud metadata lives here)
  if (a === 172 && b >= 16 && b < 32) return false;
  if (a === 192 && b === 168) return false;
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return false; // IETF protocol assignments, TEST-NET-1
  if (a === 192 && b === 88 && c === 99) return false; // 6to4 relay anycast
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a === 198 && b === 51 && c === 100) return false; // TEST-NET-2
  if (a === 203 && b === 0 && c === 113) return false; // TEST-NET-3
  return a < 224; // multicast 224/4, reserved 240/4, broadcast
}

function isPublicIPv6(x: number[]): boolean {
  const word = (i: number): number => (x[2 * i] << 8) | x[2 * i + 1];
  const zeros = (from: number, to: number): boolean => x.slice(from, to).every((v) => v === 0);
  if (zeros(0, 10) && ((x[10] === 0xff && x[11] === 0xff) || (x[10] === 0 && x[11] === 0))) {
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), :: (unspecified) and ::1 (loopback) land here.
    return isPublicIPv4(x.slice(12));
  }
  if (word(0) === 0x64 && word(1) === 0xff9b) {
    if (zeros(4, 12)) return isPublicIPv4(x.slice(12)); // NAT64 well-known prefix: reaches the embedded IPv4
    return false; // 64:ff9b:1::/48, local-use NAT64
  }
  if (word(0) === 0x2002) return isPublicIPv4(x.slice(2, 6)); // 6to4: reaches the embedded IPv4
  if (word(0) === 0x2001 && word(1) === 0) return false; // Teredo: the embedded address is obfuscated
  if (word(0) === 0x2001 && word(1) === 0xdb8) return false; // documentation
  if (word(0) === 0x0100 && zeros(2, 8)) return false; // discard-only 100::/64
  if ((x[0] & 0xfe) === 0xfc) return false; // unique-local fc00::/7
  if (x[0] === 0xfe && (x[1] & 0xc0) === 0x80) return false; // link-local fe80::/10
  if (x[0] === 0xfe && (x[1] & 0xc0) === 0xc0) return false; // site-local fec0::/10 (deprecated)
  if (x[0] === 0xff) return false; // multicast
  return (x[0] & 0xe0) === 0x20; // only global unicast 2000::/3 is routed on the internet
}

/** True when `addr` (any IPv4 or IPv6 spelling) is a globally routable unicast address. */
export function isPublicAddress(addr: string): boolean {
  const v4 = parseIPv4(addr);
  if (v4) return isPublicIPv4(v4);
  const v6 = parseIPv6(addr);
  if (v6) return isPublicIPv6(v6);
  return false; // not an address at all: never treat it as public
}

/** True for a string that is an IP literal in any spelling (so no DNS lookup will happen for it). */
export function isIpLiteral(host: string): boolean {
  return parseIPv4(host) !== null || parseIPv6(host) !== null;
}
