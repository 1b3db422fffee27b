/**
 * A model on the Hugging Face hub (`org/name`, optionally `@revision`), read lazily: small files are downloaded
 * whole into the shared HF cache; from each safetensors file only the header (two range requests: the 8-byte
 * length, then the JSON) and the byte ranges of the requested tensors are fetched, coalescing neighbours, into
 * our partial-tensor cache (layout in hub-cache.ts). For LLaVA-NeXT-7B that is about 1.2 GB of a 15 GB checkpoint.
 *
 * The revision is pinned to a commit once (from the hub's X-Repo-Commit header) and every later request names
 * that commit, so the files of one run never mix commits. Offline (HF_HUB_OFFLINE=1), or when the hub cannot be
 * reached, the commit comes from refs/<revision> and everything from the caches.
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import {
  BadInputError,
  CheckpointError,
  ImgTokensError,
  MissingTensorError,
  NetworkError,
} from '../errors.js';
import type { ProgressCallback } from '../progress.js';
import { HfCache, RangeCache, sha256, type CachedRange } from './hub-cache.js';
import { hubSettingsFromEnv } from './hub-env.js';
import { HubHttp, HubNotFoundError, TransientError, type RequestContext } from './hub-http.js';
import { parseHeader, parseHeaderLength } from './safetensors.js';
import {
  INDEX_FILE,
  SINGLE_FILE,
  isSafeRelativePath,
  mergeShards,
  parseShardIndex,
  type ShardIndex,
} from './shards.js';
import type { ModelSource, RawTensor, TensorInfo, TensorLocation } from './types.js';

// ---- repo ids ----

export interface RepoRef {
  repo: string;
  revision?: string;
}

const REPO_PART = /^[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;

/** True for `org/name` as the hub accepts it (huggingface_hub `validate_repo_id`: no `--`, `..`, `.git` suffix). */
export function isRepoId(s: string): boolean {
  const parts = s.split('/');
  return (
    parts.length === 2 &&
    parts.every((p) => REPO_PART.test(p)) &&
    !s.includes('--') &&
    !s.includes('..') &&
    !s.endsWith('.git')
  );
}

/** Parses `org/name` or `org/name@revision`; undefined when it is not a valid hub id. */
export function parseRepoRef(s: string): RepoRef | undefined {
  const at = s.indexOf('@');
  const repo = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? undefined : s.slice(at + 1);
  if (!isRepoId(repo)) return undefined;
  if (revision !== undefined && !/^[\w.\-/]{1,256}$/.test(revision)) return undefined;
  return revision === undefined ? { repo } : { repo, revision };
}

const COMMIT_RE = /^[0-9a-f]{40}$/;

// ---- byte ranges ----

export interface ByteRange {
  begin: number;
  end: number;
}

/**
 * Merges sorted-or-not ranges whose gap is at most `gapBytes` into one, unless the merged range would exceed
 * `maxBytes` (a single larger range is kept whole). Returns them sorted.
 */
export function coalesceRanges(
  ranges: readonly ByteRange[],
  gapBytes: number,
  maxBytes: number,
): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.begin - b.begin || a.end - b.end);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.begin - last.end <= gapBytes && Math.max(r.end, last.end) - last.begin <= maxBytes)
      last.end = Math.max(last.end, r.end);
    else out.push({ begin: r.begin, end: r.end });
  }
  return out;
}

// ---- the source ----

export interface HubSourceOptions {
  /** Branch, tag or commit; overrides `@rev` in the id. Default "main". */
  revision?: string;
  /** Hub URL. Default HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  /** Access token; null sends none. Default HF_TOKEN, then the token file. */
  token?: string | null;
  /** The HF hub cache. Default HF_HUB_CACHE, else $HF_HOME/hub. */
  cacheDir?: string;
  /** Our partial-tensor cache. Default <dirname(hub cache)>/imgtokens. */
  tensorCacheDir?: string;
  /** Never use the network. Default HF_HUB_OFFLINE. */
  offline?: boolean;
  /** Environment to read the defaults from. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Retries after a transient failure (network error, 5xx, 429). Default 4. */
  retries?: number;
  /** First backoff delay in ms; doubles each retry. Default 500. */
  backoffMs?: number;
  /** Neighbouring tensor ranges closer than this are fetched as one. Default 1 MiB. */
  gapBytes?: number;
  /** Ranges are not merged past this size (so large downloads still run in parallel). Default 256 MiB. */
  maxRangeBytes?: number;
  /** Range downloads in flight at once. Default 4. */
  concurrency?: number;
  /** Receives notices (e.g. "using the cache, the hub is unreachable"). */
  onProgress?: ProgressCallback;
}

/** What a download would fetch. */
export interface DownloadPlan {
  /** Ranges still to fetch, per file (absolute offsets); `resumeFrom` bytes of each are already on disk. */
  fetch: Array<{ file: string; begin: number; end: number; resumeFrom: number }>;
  bytesToFetch: number;
  /** Bytes of the requested tensors already cached. */
  bytesCached: number;
  /** Sum of the requested tensors' sizes. */
  tensorBytes: number;
}

export interface DownloadStats {
  /** Tensor-range bytes received in this call. */
  bytesFetched: number;
  tensorBytes: number;
  seconds: number;
}

const PROGRESS_INTERVAL_MS = 100;

class ByteProgress {
  private done = 0;
  private last = 0;
  private readonly t0 = performance.now();
  constructor(
    private readonly cb: ProgressCallback | undefined,
    private readonly task: string,
    private readonly label: string,
    private readonly total: number,
  ) {
    cb?.({ status: 'initiate', task, label, total, unit: 'bytes' });
  }
  add(n: number): void {
    this.done += n;
    const now = performance.now();
    if (!this.cb || (now - this.last < PROGRESS_INTERVAL_MS && this.done < this.total)) return;
    this.last = now;
    const rate = this.done / Math.max((now - this.t0) / 1000, 1e-3);
    this.cb({
      status: 'progress',
      task: this.task,
      label: this.label,
      done: this.done,
      total: this.total,
      unit: 'bytes',
      rate,
      etaSeconds: Math.max(0, (this.total - this.done) / rate),
    });
  }
  finish(): void {
    this.cb?.({
      status: 'done',
      task: this.task,
      label: this.label,
      seconds: (performance.now() - this.t0) / 1000,
    });
  }
}

export class HubSource implements ModelSource {
  readonly repo: string;
  readonly revision: string;
  readonly description: string;
  /** Body bytes received over HTTP by this source (small files, headers and ranges). */
  bytesReceived = 0;

  private readonly http: HubHttp;
  private readonly hf: HfCache;
  private readonly tensorCache: string;
  private readonly offline: boolean;
  private readonly gapBytes: number;
  private readonly maxRangeBytes: number;
  private readonly concurrency: number;
  private readonly onNotice?: ProgressCallback;
  /** Set when the hub could not be reached and we fell back to the cache: later misses fail at once. */
  private unreachable = false;
  private commitP?: Promise<string>;
  private indexP?: Promise<Map<string, TensorInfo>>;
  private readonly fileSizes = new Map<string, number>();
  private readonly rangeCaches = new Map<string, RangeCache>();

  constructor(id: string, opts: HubSourceOptions = {}) {
    const ref = parseRepoRef(id);
    if (!ref)
      throw new BadInputError(`${JSON.stringify(id)} is not a hub model id`, {
        hint: 'use org/name or org/name@revision, e.g. llava-hf/llava-v1.6-vicuna-7b-hf',
      });
    const env = hubSettingsFromEnv(opts.env ?? process.env);
    this.repo = ref.repo;
    this.revision = opts.revision ?? ref.revision ?? 'main';
    this.description = `${this.repo}@${this.revision}`;
    const token = opts.token === null ? undefined : (opts.token ?? env.token);
    this.http = new HubHttp({
      endpoint: (opts.endpoint ?? env.endpoint).replace(/\/+$/, ''),
      token,
      tokenSource: opts.token ? 'the token option' : env.tokenSource,
      retries: opts.retries ?? 4,
      backoffMs: opts.backoffMs ?? 500,
      userAgent: 'imgtokens/0.1 (+node)',
    });
    const hubCache = opts.cacheDir ?? env.hubCache;
    this.hf = new HfCache(hubCache, this.repo);
    this.tensorCache =
      opts.tensorCacheDir ?? (opts.cacheDir ? join(hubCache, '..', 'imgtokens') : env.tensorCache);
    this.offline = opts.offline ?? env.offline;
    this.gapBytes = opts.gapBytes ?? 1 << 20;
    this.maxRangeBytes = opts.maxRangeBytes ?? 256 << 20;
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.onNotice = opts.onProgress;
  }

  /** The HF hub cache folder of this repo and our tensor-cache folder, for messages and `cache` commands. */
  get cachePaths(): { hub: string; tensors: string } {
    return { hub: this.hf.repoDir, tensors: join(this.tensorCache, this.hf.repoDir.split(/[\\/]/).pop()!) };
  }

  // ---- revision -> commit ----

  /** The commit the revision resolves to (network once per source; refs/ when offline or unreachable). */
  commit(): Promise<string> {
    if (!this.commitP) {
      this.commitP = this.resolveCommit();
      this.commitP.catch(() => (this.commitP = undefined)); // a failed resolution may be retried
    }
    return this.commitP;
  }

  private async resolveCommit(): Promise<string> {
    if (COMMIT_RE.test(this.revision)) return this.revision;
    const cached = await this.hf.readRef(this.revision);
    if (this.offline) {
      if (cached) return cached;
      throw new NetworkError(
        `${this.description} is not in the cache (${this.hf.repoDir}) and offline mode is on (HF_HUB_OFFLINE=1)`,
        { hint: 'unset HF_HUB_OFFLINE and run `imgtokens download` once while online' },
      );
    }
    const ctx = this.ctx('config.json', this.revision);
    try {
      // A HEAD of config.json: every model has one, and the hub answers with X-Repo-Commit.
      const { meta } = await this.http.withRetries(
        () => this.http.request(ctx, { method: 'HEAD' }),
        (last, n) => this.giveUp(ctx, last, n, cached !== undefined),
        // with a cached commit to fall back on, do not make the user wait through the full backoff
        cached ? 1 : undefined,
      );
      if (!meta.commit || !COMMIT_RE.test(meta.commit))
        throw new NetworkError(
          `${this.http.settings.endpoint} did not return X-Repo-Commit for ${this.description}`,
          {
            hint: 'HF_ENDPOINT must point at a Hugging Face hub (or a mirror that forwards its headers)',
          },
        );
      await this.hf.writeRef(this.revision, meta.commit);
      return meta.commit;
    } catch (e) {
      if (e instanceof NetworkError && cached) {
        this.unreachable = true;
        this.onNotice?.({
          status: 'notice',
          message: `${this.http.settings.endpoint} unreachable; using the cached commit ${cached.slice(0, 10)} of ${this.description}`,
        });
        return cached;
      }
      throw e;
    }
  }

  private ctx(file: string, revision: string): RequestContext {
    return { repo: this.repo, revision, file };
  }

  private giveUp(
    ctx: RequestContext,
    last: TransientError,
    attempts: number,
    cached: boolean,
  ): ImgTokensError {
    const host = new URL(this.http.settings.endpoint).host;
    return new NetworkError(
      `could not download ${ctx.file} of ${this.description} from ${host} after ${attempts} attempts: ${last.message}`,
      {
        cause: last,
        hint: cached
          ? 'this model is in the cache: set HF_HUB_OFFLINE=1 to run from the cache alone, or check your connection'
          : 'check your connection, proxy or HF_ENDPOINT, then try again (downloads resume where they stopped)',
      },
    );
  }

  private needNetwork(what: string): void {
    if (this.offline)
      throw new NetworkError(
        `${what} of ${this.description} is not in the cache and offline mode is on (HF_HUB_OFFLINE=1)`,
        {
          hint: 'unset HF_HUB_OFFLINE and run `imgtokens download` once while online',
        },
      );
    if (this.unreachable)
      throw new NetworkError(
        `${what} of ${this.description} is not in the cache and ${this.http.settings.endpoint} cannot be reached`,
        {
          hint: 'check your connection and try again',
        },
      );
  }

  // ---- small files ----

  async readFile(path: string): Promise<Uint8Array | null> {
    if (!isSafeRelativePath(path))
      throw new BadInputError(`${this.description}: invalid file name ${JSON.stringify(path)}`);
    const commit = await this.commit();
    const cached = await this.hf.read(commit, path);
    if (cached !== undefined) return cached;
    this.needNetwork(path);
    const ctx = this.ctx(path, commit);
    try {
      const { data, etag } = await this.http.withRetries(
        async () => {
          const { response, meta } = await this.http.request(ctx);
          const data = new Uint8Array(await response.arrayBuffer());
          this.bytesReceived += data.byteLength;
          const len = response.headers.get('content-length');
          const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
          if (len !== null && !encoded && Number(len) !== data.byteLength)
            throw new TransientError(`${path}: received ${data.byteLength} of ${len} bytes`);
          return { data, etag: meta.etag };
        },
        (last, n) => this.giveUp(ctx, last, n, true),
      );
      await this.hf.write(commit, path, etag && /^[\w.-]+$/.test(etag) ? etag : sha256(data), data);
      return data;
    } catch (e) {
      if (e instanceof HubNotFoundError && (e.missing === 'file' || e.missing === 'unknown')) {
        await this.hf.writeNoExist(commit, path);
        return null;
      }
      throw e;
    }
  }

  // ---- headers ----

  tensorIndex(): Promise<Map<string, TensorInfo>> {
    if (!this.indexP) {
      this.indexP = this.buildIndex();
      this.indexP.catch(() => (this.indexP = undefined)); // a failed attempt may be retried
    }
    return this.indexP;
  }

  private async buildIndex(): Promise<Map<string, TensorInfo>> {
    const indexBytes = await this.readFile(INDEX_FILE);
    let index: ShardIndex | undefined;
    let files = [SINGLE_FILE];
    if (indexBytes) {
      index = parseShardIndex(indexBytes, this.description);
      files = index.files;
    }
    const shards = await Promise.all(files.map(async (file) => ({ file, tensors: await this.header(file) })));
    return mergeShards(this.description, shards, index);
  }

  private async rangeCache(file: string): Promise<RangeCache> {
    let rc = this.rangeCaches.get(file);
    if (!rc) {
      rc = new RangeCache(this.tensorCache, this.repo, await this.commit(), file);
      this.rangeCaches.set(file, rc);
    }
    return rc;
  }

  private async header(file: string): Promise<TensorInfo[]> {
    const rc = await this.rangeCache(file);
    const label = `${this.description}/${file}`;
    const base = join(rc.dir, 'header');
    let data: Uint8Array;
    let fileSize: number;
    const cached = await rc.readVerified(base);
    if (cached && cached.sidecar.fileSize !== undefined) {
      data = cached.data;
      fileSize = cached.sidecar.fileSize;
    } else {
      this.needNetwork(`the header of ${file}`);
      const first = await this.fetchSmallRange(file, 0, 8);
      fileSize = first.fileSize;
      const n = parseHeaderLength(first.data, label, fileSize);
      const json = await this.fetchSmallRange(file, 8, 8 + n);
      data = new Uint8Array(8 + n);
      data.set(first.data, 0);
      data.set(json.data, 8);
      parseHeader(data.subarray(8), label, fileSize); // validate before caching
      await rc.writeComplete(base, data, { fileSize, etag: first.etag });
    }
    const n = parseHeaderLength(data.subarray(0, 8), label, fileSize);
    this.fileSizes.set(file, fileSize);
    return parseHeader(data.subarray(8, 8 + n), label, fileSize).tensors.map((t) => ({ ...t, file }));
  }

  /** A range small enough to hold in memory (header bytes), with the file's total size from Content-Range. */
  private async fetchSmallRange(
    file: string,
    begin: number,
    end: number,
  ): Promise<{ data: Uint8Array; fileSize: number; etag?: string }> {
    const ctx = this.ctx(file, await this.commit());
    return this.http.withRetries(
      async () => {
        const { response, meta } = await this.http.request(ctx, { range: [begin, end] });
        const fileSize = checkRangeResponse(response, begin, end, undefined, `${this.description}/${file}`);
        const data = new Uint8Array(await response.arrayBuffer());
        this.bytesReceived += data.byteLength;
        if (data.byteLength !== end - begin)
          throw new TransientError(
            `${file}: range ${begin}-${end}: received ${data.byteLength} of ${end - begin} bytes`,
          );
        return { data, fileSize, etag: meta.etag };
      },
      (last, n) => this.giveUp(ctx, last, n, true),
    );
  }

  // ---- tensor ranges ----

  /** Which byte ranges reading `names` would fetch, given what is cached (sizes checked, hashes not). */
  async plan(names: readonly string[]): Promise<DownloadPlan> {
    const infos = await this.lookup(names);
    const byFile = new Map<string, TensorInfo[]>();
    for (const t of infos) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t]);
    const plan: DownloadPlan = { fetch: [], bytesToFetch: 0, bytesCached: 0, tensorBytes: 0 };
    for (const [file, ts] of byFile) {
      const rc = await this.rangeCache(file);
      const cached = [];
      for (const r of await rc.listRanges()) {
        const size = await stat(`${r.path}.bin`).then(
          (s) => s.size,
          () => -1,
        );
        if (size === r.end - r.begin) cached.push(r);
      }
      const missing: TensorInfo[] = [];
      for (const t of ts) {
        plan.tensorBytes += t.end - t.begin;
        if (cached.some((r) => r.begin <= t.begin && t.end <= r.end)) plan.bytesCached += t.end - t.begin;
        else missing.push(t);
      }
      for (const r of coalesceRanges(missing, this.gapBytes, this.maxRangeBytes)) {
        const resumeFrom = await rc.partLength(rc.rangeBase(r.begin, r.end), r.end - r.begin);
        plan.fetch.push({ file, begin: r.begin, end: r.end, resumeFrom });
        plan.bytesToFetch += r.end - r.begin - resumeFrom;
      }
    }
    return plan;
  }

  private async lookup(names: readonly string[]): Promise<TensorInfo[]> {
    const index = await this.tensorIndex();
    return names.map((n) => {
      const info = index.get(n);
      if (!info) throw new MissingTensorError(`${this.description}: the checkpoint has no tensor named ${n}`);
      return info;
    });
  }

  /** Downloads whatever `names` need into the tensor cache, without reading them into memory. */
  async download(names: readonly string[], onProgress?: ProgressCallback): Promise<DownloadStats> {
    const t0 = performance.now();
    const plan = await this.plan(names);
    const fetched = await this.fetchPlan(plan, onProgress);
    return { bytesFetched: fetched, tensorBytes: plan.tensorBytes, seconds: (performance.now() - t0) / 1000 };
  }

  private async fetchPlan(plan: DownloadPlan, onProgress?: ProgressCallback): Promise<number> {
    if (plan.fetch.length === 0) return 0;
    this.needNetwork(`${plan.fetch.length} tensor range(s)`);
    const progress = new ByteProgress(
      onProgress,
      'download',
      `${this.description}: weights`,
      plan.bytesToFetch,
    );
    let fetched = 0;
    const queue = [...plan.fetch];
    const worker = async (): Promise<void> => {
      for (let r = queue.shift(); r; r = queue.shift()) {
        fetched += await this.downloadRange(r.file, r.begin, r.end, (n) => progress.add(n));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker));
    progress.finish();
    return fetched;
  }

  /** Downloads [begin, end) of `file` into the range cache, resuming a `.part`. Returns bytes received. */
  private async downloadRange(
    file: string,
    begin: number,
    end: number,
    onBytes: (n: number) => void,
  ): Promise<number> {
    const rc = await this.rangeCache(file);
    const ctx = this.ctx(file, await this.commit());
    const fileSize = this.fileSizes.get(file);
    const size = end - begin;
    const base = rc.rangeBase(begin, end);
    const part = `${base}.part`;
    await mkdir(rc.dir, { recursive: true });
    // Hash as we go when the part starts empty; a part resumed from an earlier run is hashed at the end.
    let hash: Hash | undefined;
    let hashed = 0;
    let received = 0;
    await this.http.withRetries(
      async () => {
        const have = await rc.partLength(base, size);
        if (have === 0) {
          hash = createHash('sha256');
          hashed = 0;
        } else if (have !== hashed) hash = undefined;
        const { response } = await this.http.request(ctx, { range: [begin + have, end] });
        checkRangeResponse(response, begin + have, end, fileSize, `${this.description}/${file}`);
        const fh = await open(part, 'a');
        const pending: Uint8Array[] = [];
        let pendingBytes = 0;
        let got = 0;
        const flush = async (): Promise<void> => {
          for (const c of pending) {
            await fh.write(c);
            hash?.update(c);
            hashed += c.byteLength;
          }
          pending.length = 0;
          pendingBytes = 0;
        };
        try {
          const reader = response.body!.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            got += value.byteLength;
            received += value.byteLength;
            this.bytesReceived += value.byteLength;
            if (have + got > size) {
              await reader.cancel();
              throw new CheckpointError(
                `${this.description}/${file}: the server sent more than the ${size} bytes asked for`,
              );
            }
            pending.push(value);
            pendingBytes += value.byteLength;
            onBytes(value.byteLength);
            if (pendingBytes >= 4 << 20) await flush();
          }
        } finally {
          await flush().finally(() => fh.close());
        }
        if (have + got !== size)
          throw new TransientError(`${file}: connection closed after ${have + got} of ${size} bytes`);
      },
      (last, n) => this.giveUp(ctx, last, n, true),
    );
    await rc.finishPart(base, size, hash && hashed === size ? hash.digest('hex') : undefined);
    return received;
  }

  async readTensors(
    names: readonly string[],
    onProgress?: ProgressCallback,
  ): Promise<Map<string, RawTensor>> {
    const out = new Map<string, RawTensor>();
    await this.useCached(names, onProgress, async (rc, range, tensors) => {
      const got = await rc.readVerified(range.path);
      if (!got) return false;
      for (const t of tensors) {
        const bytes = new Uint8Array(got.data.subarray(t.begin - range.begin, t.end - range.begin));
        out.set(t.name, { info: t, bytes });
      }
      return true;
    });
    return out;
  }

  /**
   * Downloads and verifies the named tensors' ranges as readTensors does, but reads none of them: gives where each
   * tensor lies in the commit's folder of the tensor cache (`<file>/<begin>-<end>.bin`, at tensor.begin - begin),
   * for onnxruntime to read in place.
   */
  async tensorLocations(
    names: readonly string[],
    onProgress?: ProgressCallback,
  ): Promise<Map<string, TensorLocation>> {
    const out = new Map<string, TensorLocation>();
    await this.useCached(names, onProgress, async (rc, range, tensors) => {
      if (!(await rc.verify(range.path))) return false;
      const location = relative(rc.root, `${range.path}.bin`).split(sep).join('/');
      for (const t of tensors) out.set(t.name, { dir: rc.root, location, offset: t.begin - range.begin });
      return true;
    });
    return out;
  }

  /**
   * Fetches what `names` need, then hands each cached range with the tensors it holds to `use`, which checks the
   * range and returns false when it was corrupt (and deleted); such ranges are fetched again (twice at most).
   */
  private async useCached(
    names: readonly string[],
    onProgress: ProgressCallback | undefined,
    use: (rc: RangeCache, range: CachedRange, tensors: TensorInfo[]) => Promise<boolean>,
  ): Promise<void> {
    const infos = await this.lookup(names);
    for (let attempt = 0; ; attempt++) {
      await this.fetchPlan(await this.plan(names), onProgress);
      if (await this.useRanges(infos, use)) return;
      if (attempt >= 2)
        throw new CheckpointError(`${this.description}: cached tensor data keeps failing verification`, {
          hint: `delete ${this.cachePaths.tensors} and try again`,
        });
      this.onNotice?.({
        status: 'notice',
        message: `${this.description}: a cached range was corrupt; fetching it again`,
      });
    }
  }

  /** One pass of useCached over the cached ranges; false when some range was missing or corrupt. */
  private async useRanges(
    infos: readonly TensorInfo[],
    use: (rc: RangeCache, range: CachedRange, tensors: TensorInfo[]) => Promise<boolean>,
  ): Promise<boolean> {
    const byFile = new Map<string, TensorInfo[]>();
    for (const t of infos) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t]);
    let ok = true;
    for (const [file, ts] of byFile) {
      const rc = await this.rangeCache(file);
      const ranges = await rc.listRanges();
      const byRange = new Map<string, { range: CachedRange; tensors: TensorInfo[] }>();
      for (const t of ts) {
        const r = ranges.find((x) => x.begin <= t.begin && t.end <= x.end);
        if (!r) {
          ok = false;
          continue;
        }
        const e = byRange.get(r.path) ?? { range: r, tensors: [] };
        e.tensors.push(t);
        byRange.set(r.path, e);
      }
      for (const { range, tensors } of byRange.values()) if (!(await use(rc, range, tensors))) ok = false;
    }
    return ok;
  }
}

/**
 * Checks a range response: 206 with `Content-Range: bytes a-b/total` matching the request (or a 200 carrying the
 * whole file when the whole file was asked for). Returns the file's total size.
 */
function checkRangeResponse(
  res: Response,
  begin: number,
  end: number,
  fileSize: number | undefined,
  label: string,
): number {
  if (res.status === 200) {
    const len = Number(res.headers.get('content-length'));
    if (begin === 0 && len === end) return len;
    void res.body?.cancel();
    throw new NetworkError(`${label}: the server ignored the Range request (HTTP 200)`, {
      hint: 'HF_ENDPOINT (or a proxy) must support HTTP range requests',
    });
  }
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  if (res.status !== 206 || !m || Number(m[1]) !== begin || Number(m[2]) !== end - 1) {
    void res.body?.cancel();
    throw new TransientError(
      `${label}: asked for bytes ${begin}-${end - 1}, got HTTP ${res.status} ${res.headers.get('content-range') ?? ''}`,
    );
  }
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (total === undefined && fileSize === undefined)
    throw new NetworkError(`${label}: the server did not say the file's size (Content-Range)`);
  if (fileSize !== undefined && total !== undefined && total !== fileSize) {
    void res.body?.cancel();
    throw new CheckpointError(`${label}: the file is ${total} bytes now but its header said ${fileSize}`, {
      hint: 'the file changed on the hub; delete the cached copy and try again',
    });
  }
  return total ?? fileSize!;
}
