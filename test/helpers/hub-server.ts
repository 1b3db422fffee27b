/**
 * A local stand-in for the Hugging Face hub's `resolve` endpoint (node:http on 127.0.0.1, random ports), for
 * HubSource tests and the byte benchmark. It serves repos under `/<org>/<name>/resolve/<rev>/<file>` the way
 * the hub does: small files directly (200, ETag, X-Repo-Commit), large ones (safetensors) as a 302 to a CDN-like
 * `/cdn/<sha256>` on a second port (another origin, so the Authorization header must not follow), with Range
 * (206 + Content-Range), X-Linked-Etag / X-Linked-Size, and the hub's X-Error-Code on 401/404.
 * Faults can be injected: an HTTP status, or a disconnect after N body bytes; responses can be throttled.
 * Every response's body bytes are counted.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A file's content, possibly synthesised on the fly. */
export interface VirtualFile {
  size: number;
  /** sha256 hex for LFS files (the hub's X-Linked-Etag), a git-blob-like sha1 for small ones. */
  etag: string;
  lfs: boolean;
  read(begin: number, end: number): Uint8Array;
}

export function bytesFile(data: Uint8Array, lfs: boolean): VirtualFile {
  const etag = createHash(lfs ? 'sha256' : 'sha1')
    .update(data)
    .digest('hex');
  return { size: data.byteLength, etag, lfs, read: (b, e) => data.subarray(b, e) };
}

export interface FakeRepo {
  files: Map<string, VirtualFile>;
  /** revision name -> commit; the commit itself is always accepted too. */
  refs: Record<string, string>;
  /** When set, requests need `Authorization: Bearer <token>`. */
  gatedToken?: string;
}

/** Loads a fixture directory as a repo (safetensors files are LFS), at a fixed fake commit. */
export function repoFromDir(dir: string, commit: string): FakeRepo {
  const files = new Map<string, VirtualFile>();
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (!statSync(p).isFile()) continue;
    files.set(name, bytesFile(new Uint8Array(readFileSync(p)), name.endsWith('.safetensors')));
  }
  return { files, refs: { main: commit } };
}

export interface Fault {
  /** Which requests it applies to (default all), by path and Range header. */
  match?: (path: string, range: string | undefined) => boolean;
  /** Answer with this status instead. */
  status?: number;
  /** Close the socket after this many body bytes. */
  disconnectAfter?: number;
  /** How many matching requests it hits (default 1). */
  times?: number;
}

export interface RequestLog {
  method: string;
  path: string;
  range?: string;
  status: number;
  bytes: number;
  authorization?: string;
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly log: RequestLog[] = [];
  faults: Fault[] = [];
  /** Throttle: milliseconds to wait between chunks (0: none). */
  chunkDelayMs = 0;
  /** Bytes per write. */
  chunkBytes = 1 << 16;
  private hub?: Server;
  private cdn?: Server;
  endpoint = '';
  cdnOrigin = '';

  /** Body bytes sent, over all requests. */
  get bytesSent(): number {
    return this.log.reduce((a, r) => a + r.bytes, 0);
  }

  resetLog(): void {
    this.log.length = 0;
  }

  async start(): Promise<this> {
    const listen = async (s: Server): Promise<string> => {
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    };
    this.hub = createServer((req, res) => void this.handle(req, res, 'hub'));
    this.cdn = createServer((req, res) => void this.handle(req, res, 'cdn'));
    this.endpoint = await listen(this.hub);
    this.cdnOrigin = await listen(this.cdn);
    return this;
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    this.hub = this.cdn = undefined;
  }

  private takeFault(path: string, range: string | undefined): Fault | undefined {
    const i = this.faults.findIndex((f) => !f.match || f.match(path, range));
    if (i < 0) return undefined;
    const f = this.faults[i];
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    return f;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, side: 'hub' | 'cdn'): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const entry: RequestLog = {
      method: req.method ?? 'GET',
      path,
      range: req.headers.range,
      status: 0,
      bytes: 0,
      authorization: req.headers.authorization,
    };
    this.log.push(entry);
    const fault = this.takeFault(path, req.headers.range);
    const send = (status: number, headers: Record<string, string> = {}): void => {
      entry.status = status;
      res.writeHead(status, headers).end();
    };
    if (fault?.status) return send(fault.status);
    if (side === 'cdn') {
      const m = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
      const file = m ? this.findBlob(m[1]) : undefined;
      if (!file) return send(404);
      return this.serve(req, res, entry, file, { etag: `"${file.etag}"` }, fault);
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (!m) return send(404);
    const [, repoId, rev, file] = m;
    const repo = this.repos.get(repoId);
    if (!repo)
      return send(404, { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found' });
    if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) {
      return send(req.headers.authorization ? 403 : 401, {
        'x-error-code': 'GatedRepo',
        'x-error-message': 'Access to this model is restricted',
      });
    }
    const commit = repo.refs[rev] ?? (Object.values(repo.refs).includes(rev) ? rev : undefined);
    if (!commit)
      return send(404, { 'x-error-code': 'RevisionNotFound', 'x-error-message': 'Invalid rev id' });
    const f = repo.files.get(file);
    if (!f) return send(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': commit });
    if (f.lfs) {
      return send(302, {
        location: `${this.cdnOrigin}/cdn/${f.etag}?expires=never`,
        'x-repo-commit': commit,
        'x-linked-etag': `"${f.etag}"`,
        'x-linked-size': String(f.size),
        etag: `"${createHash('sha1').update(f.etag).digest('hex')}"`,
      });
    }
    return this.serve(req, res, entry, f, { etag: `"${f.etag}"`, 'x-repo-commit': commit }, fault);
  }

  private findBlob(sha: string): VirtualFile | undefined {
    for (const r of this.repos.values()) for (const f of r.files.values()) if (f.etag === sha) return f;
    return undefined;
  }

  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    entry: RequestLog,
    f: VirtualFile,
    headers: Record<string, string>,
    fault?: Fault,
  ): Promise<void> {
    let begin = 0;
    let end = f.size;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      const b = m ? Number(m[1]) : NaN;
      const e = m && m[2] !== '' ? Number(m[2]) + 1 : f.size;
      if (!m || b >= f.size || e <= b) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${f.size}` }).end();
        return;
      }
      begin = b;
      end = Math.min(e, f.size);
      status = 206;
      headers['content-range'] = `bytes ${begin}-${end - 1}/${f.size}`;
    }
    entry.status = status;
    res.writeHead(status, { ...headers, 'content-length': String(end - begin), 'accept-ranges': 'bytes' });
    if (req.method === 'HEAD') return void res.end();
    const limit = fault?.disconnectAfter;
    const CHUNK = this.chunkBytes;
    for (let p = begin; p < end; p += CHUNK) {
      let chunk = f.read(p, Math.min(end, p + CHUNK));
      if (limit !== undefined && entry.bytes + chunk.byteLength > limit) {
        chunk = chunk.subarray(0, limit - entry.bytes);
        entry.bytes += chunk.byteLength;
        // Give the client time to read what was sent: fetch drops queued body chunks when the stream errors.
        res.write(chunk, () => setTimeout(() => res.socket?.destroy(), 30));
        return;
      }
      entry.bytes += chunk.byteLength;
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      if (this.chunkDelayMs > 0) await new Promise((r) => setTimeout(r, this.chunkDelayMs));
      if (res.destroyed) return;
    }
    res.end();
  }
}
