/**
 * HTTP for the hub's `resolve` endpoint: one request with redirects followed by hand (so that the
 * `Authorization` header is sent to the hub's own origin only, never to a CDN it redirects to), hub error
 * codes mapped to typed errors, and bounded retries with exponential backoff for transient failures.
 *
 * We use fetch directly rather than @huggingface/hub's downloadFile/downloadFileToCacheDir: those fetch whole
 * files (we need byte ranges of 15 GB shards), resolve metadata through the /api paths-info endpoint rather
 * than `resolve` headers, and do not honour HF_HUB_OFFLINE.
 */
import { AuthError, ImgTokensError, NetworkError, NotFoundError } from '../errors.js';

export interface HttpSettings {
  endpoint: string;
  token?: string;
  tokenSource?: string;
  /** Retries after the first attempt for transient failures (network errors, 5xx, 429). */
  retries: number;
  /** First backoff delay; doubles on each retry (with up to 25% jitter). */
  backoffMs: number;
  userAgent: string;
}

/** What a request is for, to name it in messages. */
export interface RequestContext {
  repo: string;
  revision: string;
  file: string;
}

/** Metadata from the hub's own response (before any CDN redirect), as huggingface_hub reads it. */
export interface HubMeta {
  commit?: string;
  etag?: string;
  size?: number;
}

export interface HubResponse {
  response: Response;
  meta: HubMeta;
}

/** A failure worth retrying; becomes a NetworkError when the retries run out. */
export class TransientError extends Error {}

/** A 404 (or the hub's RepoNotFound), saying which part is missing when the hub's X-Error-Code tells. */
export class HubNotFoundError extends NotFoundError {
  constructor(
    readonly missing: 'repo' | 'revision' | 'file' | 'unknown',
    message: string,
    options?: { hint?: string },
  ) {
    super(message, options);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function resolveUrl(endpoint: string, ctx: RequestContext): string {
  const file = ctx.file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/${ctx.repo}/resolve/${encodeURIComponent(ctx.revision)}/${file}`;
}

function normEtag(v: string | null): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function describeCause(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const msg = e instanceof Error ? e.message : String(e);
  return cause?.code ? `${msg} (${cause.code})` : cause?.message ? `${msg}: ${cause.message}` : msg;
}

export class HubHttp {
  private readonly origin: string;

  constructor(readonly settings: HttpSettings) {
    this.origin = new URL(settings.endpoint).origin;
  }

  /**
   * One attempt: requests `ctx`'s file at `ctx.revision`, following redirects. Throws AuthError / NotFoundError
   * for 401/403/404, TransientError for what may succeed on a retry.
   */
  async request(
    ctx: RequestContext,
    init: { method?: 'GET' | 'HEAD'; range?: [number, number] } = {},
  ): Promise<HubResponse> {
    let url = resolveUrl(this.settings.endpoint, ctx);
    const meta: HubMeta = {};
    for (let hop = 0; hop <= 10; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.settings.userAgent };
      // Only the hub's own origin gets the token; a CDN (another origin) never does.
      if (this.settings.token && new URL(url).origin === this.origin)
        headers.authorization = `Bearer ${this.settings.token}`;
      if (init.range) {
        headers.range = `bytes=${init.range[0]}-${init.range[1] - 1}`;
        headers['accept-encoding'] = 'identity'; // byte offsets refer to the file, not a compressed form
      }
      let res: Response;
      try {
        res = await fetch(url, { method: init.method ?? 'GET', headers, redirect: 'manual' });
      } catch (e) {
        throw new TransientError(`${new URL(url).host}: ${describeCause(e)}`, { cause: e });
      }
      if (new URL(url).origin === this.origin) {
        meta.commit ??= res.headers.get('x-repo-commit') ?? undefined;
        meta.etag ??= normEtag(res.headers.get('x-linked-etag')) ?? normEtag(res.headers.get('etag'));
        const size = Number(res.headers.get('x-linked-size') ?? NaN);
        if (Number.isFinite(size)) meta.size ??= size;
      }
      if (REDIRECTS.has(res.status)) {
        const loc = res.headers.get('location');
        await res.body?.cancel();
        if (!loc) throw new TransientError(`${url}: redirect without a Location header`);
        url = new URL(loc, url).toString();
        continue;
      }
      if (res.ok)
        return { response: res, meta: { ...meta, etag: meta.etag ?? normEtag(res.headers.get('etag')) } };
      await res.body?.cancel();
      throw this.httpError(res, ctx);
    }
    throw new NetworkError(`${ctx.repo}: too many redirects for ${ctx.file}`);
  }

  private httpError(res: Response, ctx: RequestContext): Error {
    const code = res.headers.get('x-error-code') ?? '';
    const page = `${this.settings.endpoint}/${ctx.repo}`;
    const where = `${ctx.repo}@${ctx.revision}`;
    if (code === 'RepoNotFound') {
      return new HubNotFoundError(
        'repo',
        `repository ${ctx.repo} not found on ${this.settings.endpoint} (HTTP ${res.status})`,
        {
          hint: this.settings.token
            ? 'check the spelling of the repo id; if it is private, check that your token can read it'
            : 'check the spelling of the repo id; if it is private, set HF_TOKEN',
        },
      );
    }
    if (res.status === 401 || res.status === 403 || code === 'GatedRepo') {
      const tokenWord = this.settings.token
        ? `the token from ${this.settings.tokenSource ?? 'the options'} was refused or lacks access`
        : 'no token was sent';
      return new AuthError(
        `access to ${ctx.repo} was refused (HTTP ${res.status}${code ? `, ${code}` : ''}): ${tokenWord}`,
        {
          hint: `if the model is gated, accept its licence on ${page} while logged in, then set HF_TOKEN to a token with read access (or run huggingface-cli login)`,
        },
      );
    }
    if (res.status === 404) {
      if (code === 'RevisionNotFound')
        return new HubNotFoundError('revision', `revision ${ctx.revision} not found in ${ctx.repo}`, {
          hint: `check the branch, tag or commit after "@"; see ${page}/tree/main`,
        });
      if (code === 'EntryNotFound')
        return new HubNotFoundError('file', `file ${ctx.file} not found in ${where}`, {
          hint: `see the files at ${page}/tree/${encodeURIComponent(ctx.revision)}`,
        });
      return new HubNotFoundError(
        'unknown',
        `${where}: ${ctx.file} not found (HTTP 404): the repository, revision or file is missing`,
        {
          hint: `check the repo id and revision at ${page}`,
        },
      );
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408)
      return new TransientError(`${new URL(res.url || this.settings.endpoint).host}: HTTP ${res.status}`);
    return new NetworkError(`${where}: unexpected HTTP ${res.status} for ${ctx.file}`);
  }

  /**
   * Runs `attempt` until it succeeds or fails with a non-transient error, at most 1 + retries times,
   * sleeping backoffMs * 2^i between tries. `onGiveUp` turns the last transient failure into the final error.
   */
  async withRetries<T>(
    attempt: (n: number) => Promise<T>,
    onGiveUp: (last: TransientError, attempts: number) => ImgTokensError,
    retries = this.settings.retries,
  ): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt(n);
      } catch (e) {
        const transient =
          e instanceof TransientError ? e : isStreamError(e) ? new TransientError(describeCause(e)) : null;
        if (!transient) throw e;
        if (n >= retries) throw onGiveUp(transient, n + 1);
        const delay = this.settings.backoffMs * 2 ** n * (1 + Math.random() * 0.25);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

/** Errors thrown by fetch's body stream when the connection drops mid-transfer. */
function isStreamError(e: unknown): boolean {
  if (e instanceof ImgTokensError) return false;
  const code =
    (e as { code?: string; cause?: { code?: string } }).cause?.code ?? (e as { code?: string }).code;
  return (
    (e instanceof TypeError && /terminated|fetch failed|network/i.test(e.message)) ||
    (typeof code === 'string' && /^(ECONN|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR)/.test(code))
  );
}
