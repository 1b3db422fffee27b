/**
 * Cache management behind `imgtokens cache ls`, `imgtokens cache rm <repo>` and `imgtokens download`:
 * lists models in the shared HF hub cache (sizes via @huggingface/hub's `scanCacheDir`) and in our
 * partial-tensor cache (layout in hub-cache.ts), removes one model, and prefetches what a run needs.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { scanCacheDir, scanCachedRepo } from '@huggingface/hub';
import { BadInputError } from '../errors.js';
import type { ProgressCallback } from '../progress.js';
import { repoFolderName } from './hub-cache.js';
import { hubSettingsFromEnv } from './hub-env.js';
import { HubSource, isRepoId, type DownloadStats } from './hub.js';
import type { ModelSource } from './types.js';

/** The small files a run may read; they go into the shared HF cache. */
export const SMALL_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'processor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'model.safetensors.index.json',
] as const;

export interface CacheDirs {
  /** The HF hub cache (default from HF_HUB_CACHE / HF_HOME). */
  cacheDir?: string;
  /** Our tensor cache (default beside the hub cache). */
  tensorCacheDir?: string;
  env?: Record<string, string | undefined>;
}

export interface CachedModel {
  repo: string;
  /** Bytes in the shared HF cache (small files, or whole files other tools downloaded). */
  hubBytes: number;
  /** Bytes in imgtokens' tensor cache (headers and tensor ranges, `.part` files included). */
  tensorBytes: number;
  /** Commits with cached data. */
  commits: string[];
  hubPath?: string;
  tensorPath?: string;
}

function dirs(opts: CacheDirs): { hub: string; tensors: string } {
  const env = hubSettingsFromEnv(opts.env ?? process.env);
  const hub = opts.cacheDir ?? env.hubCache;
  return {
    hub,
    tensors: opts.tensorCacheDir ?? (opts.cacheDir ? join(hub, '..', 'imgtokens') : env.tensorCache),
  };
}

/** Total size of regular files under `path` (symlinks not followed: HF snapshots point at blobs). */
async function du(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of await readdir(path)) total += await du(join(path, name));
  return total;
}

/** A repo folder's size in the HF cache as huggingface-cli scan-cache counts it (blobs), else its du. */
async function hubRepoSize(path: string): Promise<number> {
  return scanCachedRepo(path).then(
    (r) => r.size,
    () => du(path),
  );
}

async function subdirs(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

function repoFromFolder(folder: string): string | undefined {
  const m = /^models--(.+)$/.exec(folder);
  return m ? m[1].split('--').join('/') : undefined;
}

/** Every cached model, sorted by repo id. */
export async function listCache(opts: CacheDirs = {}): Promise<CachedModel[]> {
  const d = dirs(opts);
  const out = new Map<string, CachedModel>();
  const get = (repo: string): CachedModel => {
    let m = out.get(repo);
    if (!m) out.set(repo, (m = { repo, hubBytes: 0, tensorBytes: 0, commits: [] }));
    return m;
  };
  const scanned = new Set<string>();
  const scan = await scanCacheDir(d.hub).catch(() => undefined);
  for (const r of scan?.repos ?? []) {
    if (r.id.type !== 'model') continue;
    const m = get(r.id.name);
    m.hubBytes = r.size;
    m.hubPath = r.path;
    m.commits.push(...r.revisions.map((v) => v.commitOid));
    scanned.add(r.path);
  }
  // folders scanCacheDir skips (e.g. refs and .no_exist markers but no snapshot yet)
  for (const folder of await subdirs(d.hub)) {
    const repo = repoFromFolder(folder);
    const path = join(d.hub, folder);
    if (!repo || scanned.has(path)) continue;
    const m = get(repo);
    m.hubBytes = await du(path);
    m.hubPath = path;
  }
  for (const folder of await subdirs(d.tensors)) {
    const repo = repoFromFolder(folder);
    if (!repo) continue;
    const m = get(repo);
    m.tensorPath = join(d.tensors, folder);
    m.tensorBytes = await du(m.tensorPath);
    m.commits.push(...(await subdirs(m.tensorPath)));
  }
  for (const m of out.values()) m.commits = [...new Set(m.commits)].sort();
  return [...out.values()].sort((a, b) => a.repo.localeCompare(b.repo));
}

export interface RemovedCache {
  repo: string;
  /** Bytes freed from the tensor cache. */
  tensorBytes: number;
  /** Bytes freed from the shared HF cache (0 unless `hub` was set). */
  hubBytes: number;
  /** Bytes left in the shared HF cache (other tools may use them). */
  keptHubBytes: number;
}

/**
 * Removes `repo` from imgtokens' tensor cache and, with `hub: true`, its folder in the shared HF cache too
 * (which Python tools may also use, hence off by default).
 */
export async function removeFromCache(
  repo: string,
  opts: CacheDirs & { hub?: boolean } = {},
): Promise<RemovedCache> {
  if (!isRepoId(repo))
    throw new BadInputError(`${JSON.stringify(repo)} is not a hub model id`, {
      hint: 'use org/name as `cache ls` shows it',
    });
  const d = dirs(opts);
  const folder = repoFolderName(repo);
  const tensorPath = join(d.tensors, folder);
  const hubPath = join(d.hub, folder);
  const tensorBytes = await du(tensorPath);
  const hubSize = await hubRepoSize(hubPath);
  await rm(tensorPath, { recursive: true, force: true });
  if (opts.hub) await rm(hubPath, { recursive: true, force: true });
  return { repo, tensorBytes, hubBytes: opts.hub ? hubSize : 0, keptHubBytes: opts.hub ? 0 : hubSize };
}

export interface PrefetchResult extends DownloadStats {
  /** Small files present in the model (now cached). */
  files: string[];
}

/**
 * Makes a later run work offline: caches the small files, every safetensors header and the named tensors.
 * For a local source it only checks that the files parse and the tensors exist.
 */
export async function prefetch(
  source: ModelSource,
  names: readonly string[],
  onProgress?: ProgressCallback,
): Promise<PrefetchResult> {
  const t0 = performance.now();
  const files: string[] = [];
  for (const f of SMALL_FILES) if ((await source.readFile(f)) !== null) files.push(f);
  const index = await source.tensorIndex();
  if (source instanceof HubSource) return { files, ...(await source.download(names, onProgress)) };
  let tensorBytes = 0;
  for (const n of names) {
    const t = index.get(n);
    if (t) tensorBytes += t.end - t.begin;
    else await source.readTensors([n]); // throws the source's own missing-tensor error
  }
  return { files, bytesFetched: 0, tensorBytes, seconds: (performance.now() - t0) / 1000 };
}
