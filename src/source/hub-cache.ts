/**
 * On-disk caches for HubSource.
 *
 * 1. Small files (config.json, tokenizer.json, the shard index, ...) go into the standard Hugging Face hub cache,
 *    so that Python tools share them. The layout mirrors huggingface_hub's file_download.py (git tag v0.25.1:
 *    `hf_hub_download`, `_create_symlink`, `_cache_commit_hash_for_specific_revision`, `.no_exist`), with the
 *    folder name from @huggingface/hub's `getRepoFolderName`:
 *      <hub cache>/models--<org>--<name>/
 *        blobs/<etag>                        file content
 *        snapshots/<commit>/<file>           relative symlink to ../../blobs/<etag> (a copy where symlinks fail)
 *        refs/<revision>                     the commit hash the revision resolved to (no newline)
 *        .no_exist/<commit>/<file>           empty marker: the file does not exist at that commit
 *
 * 2. Safetensors byte ranges go into a partial-tensor cache of our own, because the HF cache holds whole files only:
 *      <tensor cache>/models--<org>--<name>/<commit>/<file>/     (tensor cache = dirname(hub cache)/imgtokens)
 *        header.bin                 the file's first 8 + N bytes (length prefix and JSON header)
 *        header.json                sidecar {"version":1,"size","sha256","fileSize","etag"}
 *        <begin>-<end>.bin          bytes [begin, end) of the file (absolute offsets, header included)
 *        <begin>-<end>.json         sidecar {"version":1,"size","sha256"}
 *        <begin>-<end>.part         a download in progress; resumed from its length
 *    A `.bin` counts only when its sidecar exists and its size and sha256 match. Downloads append to `.part`; when
 *    it reaches the full length it is hashed, renamed to `.bin`, and the sidecar is written last (temp file + rename),
 *    so a killed download never leaves something that reads as valid. A `.part` at or past the full length (killed
 *    between the last write and the rename, or not ours) is discarded rather than trusted.
 *    Not safe for two processes downloading the same range at once (no lock); the length and hash checks catch
 *    the interleaving, and the range is fetched again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
  copyFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { getRepoFolderName } from '@huggingface/hub';

export function repoFolderName(repo: string): string {
  return getRepoFolderName({ name: repo, type: 'model' });
}

function tmpName(path: string): string {
  return `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/** Writes `data` to `path` atomically: a temp file in the same folder, then rename. */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tmpName(path);
  await writeFile(tmp, data);
  await rename(tmp, path);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---- 1. the shared HF hub cache ----

export class HfCache {
  readonly repoDir: string;
  constructor(
    readonly hubCache: string,
    readonly repo: string,
  ) {
    this.repoDir = join(hubCache, repoFolderName(repo));
  }

  /** The commit a revision resolved to last time, or undefined. */
  async readRef(revision: string): Promise<string | undefined> {
    try {
      const c = (await readFile(join(this.repoDir, 'refs', revision), 'utf8')).trim();
      return /^[0-9a-f]{40}$/.test(c) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    if ((await this.readRef(revision)) === commit) return;
    await writeAtomic(join(this.repoDir, 'refs', revision), commit);
  }

  snapshotPath(commit: string, file: string): string {
    return join(this.repoDir, 'snapshots', commit, file);
  }

  /** A cached file's content; `null` when the cache records that it does not exist; undefined when unknown. */
  async read(commit: string, file: string): Promise<Uint8Array | null | undefined> {
    try {
      return await readFile(this.snapshotPath(commit, file));
    } catch {
      if (await exists(join(this.repoDir, '.no_exist', commit, file))) return null;
      return undefined;
    }
  }

  async write(commit: string, file: string, etag: string, data: Uint8Array): Promise<void> {
    const blob = join(this.repoDir, 'blobs', etag);
    if (!(await exists(blob))) await writeAtomic(blob, data);
    const link = this.snapshotPath(commit, file);
    await mkdir(dirname(link), { recursive: true });
    const tmp = tmpName(link);
    try {
      await symlink(relative(dirname(link), blob), tmp);
    } catch {
      await copyFile(blob, tmp); // filesystems without symlinks, as huggingface_hub falls back to
    }
    await rename(tmp, link);
  }

  async writeNoExist(commit: string, file: string): Promise<void> {
    await writeAtomic(join(this.repoDir, '.no_exist', commit, file), '');
  }
}

// ---- 2. our partial-tensor cache ----

export interface Sidecar {
  version: 1;
  size: number;
  sha256: string;
  fileSize?: number;
  etag?: string;
}

/** A cached byte range [begin, end) of one file. */
export interface CachedRange {
  begin: number;
  end: number;
  path: string;
}

export class RangeCache {
  /** The commit's folder, `<tensor cache>/models--<org>--<name>/<commit>`. */
  readonly root: string;
  /** This file's folder in it. */
  readonly dir: string;
  /** Range files verified (or written) by this process: no need to hash them again. */
  private readonly verified = new Set<string>();

  constructor(tensorCache: string, repo: string, commit: string, file: string) {
    this.root = join(tensorCache, repoFolderName(repo), commit);
    this.dir = join(this.root, file);
  }

  rangeBase(begin: number, end: number): string {
    return join(this.dir, `${begin}-${end}`);
  }

  /** A blob's sidecar, or undefined (deleting a `.bin` that has none: never trusted). */
  private async sidecar(base: string): Promise<Sidecar | undefined> {
    try {
      return JSON.parse(await readFile(`${base}.json`, 'utf8')) as Sidecar;
    } catch {
      if (await exists(`${base}.bin`)) await rm(`${base}.bin`, { force: true });
      return undefined;
    }
  }

  /** Reads a complete, verified blob (header or range) or returns undefined (deleting it when corrupt). */
  async readVerified(base: string): Promise<{ data: Uint8Array; sidecar: Sidecar } | undefined> {
    const sidecar = await this.sidecar(base);
    if (!sidecar) return undefined;
    let data: Uint8Array;
    try {
      data = await readFile(`${base}.bin`);
    } catch {
      await this.discard(base);
      return undefined;
    }
    const ok =
      data.byteLength === sidecar.size && (this.verified.has(base) || sha256(data) === sidecar.sha256);
    if (!ok) {
      await this.discard(base);
      return undefined;
    }
    this.verified.add(base);
    return { data, sidecar };
  }

  /**
   * The checks of readVerified without reading the blob into memory (hashed as a stream): true when `${base}.bin`
   * is complete and verified, false when it was not (and is deleted when corrupt).
   */
  async verify(base: string): Promise<boolean> {
    const sidecar = await this.sidecar(base);
    if (!sidecar) return false;
    let ok: boolean;
    try {
      ok =
        (await stat(`${base}.bin`)).size === sidecar.size &&
        (this.verified.has(base) || (await sha256File(`${base}.bin`)) === sidecar.sha256);
    } catch {
      ok = false;
    }
    if (!ok) {
      await this.discard(base);
      return false;
    }
    this.verified.add(base);
    return true;
  }

  async discard(base: string): Promise<void> {
    this.verified.delete(base);
    await rm(`${base}.json`, { force: true });
    await rm(`${base}.bin`, { force: true });
  }

  /** Stores a complete blob: data, then the sidecar last. */
  async writeComplete(base: string, data: Uint8Array, extra: Partial<Sidecar> = {}): Promise<void> {
    await writeAtomic(`${base}.bin`, data);
    await this.commitSidecar(base, { version: 1, size: data.byteLength, sha256: sha256(data), ...extra });
  }

  /** Promotes a finished `.part` to `.bin` and writes its sidecar. */
  async finishPart(base: string, size: number, digest?: string): Promise<void> {
    const part = `${base}.part`;
    const st = await stat(part);
    if (st.size !== size) throw new Error(`${part}: ${st.size} bytes, expected ${size}`);
    const hash = digest ?? (await sha256File(part));
    await rename(part, `${base}.bin`);
    await this.commitSidecar(base, { version: 1, size, sha256: hash });
  }

  private async commitSidecar(base: string, sidecar: Sidecar): Promise<void> {
    await writeAtomic(`${base}.json`, JSON.stringify(sidecar));
    this.verified.add(base);
  }

  /** Length of a resumable `.part` for this range: 0 when absent; a full-length or longer one is discarded. */
  async partLength(base: string, size: number): Promise<number> {
    try {
      const st = await stat(`${base}.part`);
      if (st.size < size) return st.size;
      await rm(`${base}.part`, { force: true });
    } catch {
      // none
    }
    return 0;
  }

  /** Ranges with a sidecar (not yet verified: readVerified checks them). */
  async listRanges(): Promise<CachedRange[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: CachedRange[] = [];
    for (const n of names) {
      const m = /^(\d+)-(\d+)\.json$/.exec(n);
      if (m) out.push({ begin: Number(m[1]), end: Number(m[2]), path: join(this.dir, `${m[1]}-${m[2]}`) });
    }
    return out.sort((a, b) => a.begin - b.begin || b.end - a.end);
  }
}
