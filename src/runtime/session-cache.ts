/**
 * The session cache: what onnxruntime builds when a session is created (the graph after its optimisations, with
 * the fp32 casts of F16/BF16 weights folded into constants), kept on disk so a later process maps it instead of
 * building it again. Since format 2 an entry keeps no pre-packed weights: onnxruntime (v1.30) packs them again at
 * creation even when an entry holds its packed copies (it packs to find the cached buffer), so they only doubled
 * the entry.
 * A session then either packs them at creation (SessionOptions.prepack, the default) or maps them as they are and
 * packs during runs (prepack false: the CLI's one-image analyze). llava-1.5-7b's vision graph on the 2-core dev
 * machine: created from the checkpoint in about 2.3 s; from the cache in 0.07 s unpacked, about 1.2 s packed; the
 * entry 1.25 GB (format 1, with the packed copies: 2.5 GB, created in 0.63 s).
 *
 * onnxruntime's own mechanism does the saving (onnxruntime_session_options_config_keys.h, onnxruntime v1.30):
 * SessionOptions.optimizedModelFilePath plus
 *   session.optimized_model_external_initializers_file_name       every initializer >= 1 KiB goes to weights.bin
 *   session.optimized_model_external_initializers_min_size_in_bytes
 * An entry is then loaded from its model.onnx with graph optimisation disabled (it is already optimised).
 *
 * Layout, under <tensor cache>/sessions (the tensor cache is dirname(HF hub cache)/imgtokens, so HF_HOME,
 * HF_HUB_CACHE and IMGTOKENS_TENSOR_CACHE move it; IMGTOKENS_SESSION_CACHE names another folder, or `0` / `off`
 * turns the cache off):
 *   <key>/model.onnx      the optimised graph (small: structure and initializers under 1 KiB)
 *   <key>/weights.bin     its initializers (onnxruntime maps them in place)
 *   <key>/manifest.json   what the key was made of, and each file's size, mtime and hash (written last)
 * <key> is the sha256 of: the graph bytes as imgtokens built them (which embed every inline weight and, for
 * weights read in place, their file names and byte ranges), each external-data file's identity (path, size,
 * mtime, inode: a checkpoint file that changes gives another key), the onnxruntime version, the CPU's model and
 * feature flags (the optimised graph may hold kernels' layouts for this CPU), and the session options that shape
 * the graph (device, optimisation level) and FORMAT below.
 *
 * Writes are atomic: an entry is built in a temp folder beside the others, its files fsynced, the manifest
 * written last, then the folder renamed into place; when two processes fill the same key, the first rename wins
 * and the other drops its copy (both have a working session). Reads are verified: the manifest's key,
 * onnxruntime version and CPU must match; model.onnx is hashed whole; weights.bin must have its recorded size and
 * mtime, and its head, tail and 64 slices of 64 KiB spread over it must hash as recorded (hashing all 1.25 GB
 * would cost more than building). An entry that fails any check, or that onnxruntime refuses, is removed and
 * rebuilt, never used. Each label (one graph of one checkpoint) keeps its KEEP_PER_LABEL most recently used
 * entries: a hit refreshes its folder's mtime, and sealing a new entry removes the older ones beyond that (so an
 * upgrade does not leave the old entries behind). `imgtokens cache ls` lists the entries,
 * `imgtokens cache rm --sessions` removes them, and `imgtokens cache verify` hashes every entry in full.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { arch, cpus, platform } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { hubSettingsFromEnv } from '../source/hub-env.js';

/** Bumped whenever what an entry holds, how it is keyed or how it is checked changes (3: 64 KiB hash slices). */
export const SESSION_CACHE_FORMAT = 3;
export const MODEL_FILE = 'model.onnx';
export const WEIGHTS_FILE = 'weights.bin';
export const MANIFEST_FILE = 'manifest.json';
/**
 * Entries kept per label (one graph of one checkpoint: `vision <model>`, `lens project.embed <model>`): sealing a
 * new entry removes the least recently used beyond this many. A new imgtokens or onnxruntime version, or a changed
 * checkpoint file, gives a new key, and the old entry (2.5 GB for llava-1.5-7b's vision graph) would otherwise
 * stay forever; two, so that two installed versions used in turn do not evict each other.
 */
export const KEEP_PER_LABEL = 2;
/** Slices of weights.bin hashed on every read (plus its first and last slice). */
const SAMPLES = 64;
/**
 * 64 KiB: a lookup hashes 66 of them (4.2 MB) in about 5 ms; 256 KiB slices (formats 1 and 2) took 20 ms a lookup,
 * two lookups on every fresh run.
 */
const SLICE = 64 * 1024;

/** What the key of an entry is made of (recorded in its manifest). */
export interface SessionKeyParts {
  format: number;
  graphSha256: string;
  externalFiles: Array<{ path: string; size: number; mtimeMs: number; ino: number }>;
  ortVersion: string;
  cpu: string;
  options: Record<string, string | number>;
}

interface FileRecord {
  size: number;
  mtimeMs: number;
  sha256: string;
}

export interface SessionManifest {
  key: string;
  label: string;
  created: string;
  parts: SessionKeyParts;
  model: FileRecord;
  /** weights.bin; sha256 covers the sampled slices on read, `fullSha256` all of it (`cache verify`). */
  weights: FileRecord & { fullSha256: string };
  /** Seconds onnxruntime took to build (and save) the session the entry came from. */
  buildSeconds: number;
}

export interface SessionCacheEntry {
  key: string;
  path: string;
  label: string;
  created: string;
  bytes: number;
  ortVersion: string;
  /** Why the entry would not be used ('' when it would). */
  problem: string;
}

/** The onnxruntime version this process runs (onnxruntime-common's and the binding's). */
export function ortVersion(): string {
  const v = ort.env.versions;
  return `${v.common}/${v.node ?? ''}`;
}

let cpuId: string | undefined;
/** The CPU's model name and feature flags (Linux: /proc/cpuinfo), hashed; else what os.cpus() says. */
export function cpuFeatures(): string {
  if (cpuId !== undefined) return cpuId;
  let text = `${platform()}-${arch()} ${cpus()[0]?.model ?? '?'}`;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const flags = /^(flags|Features)\s*:\s*(.*)$/m.exec(info)?.[2] ?? '';
    text += ` ${flags.split(/\s+/).sort().join(' ')}`;
  } catch {
    // not Linux: the model name and architecture stand for the features
  }
  cpuId = `${arch()}:${sha256(Buffer.from(text)).slice(0, 16)}`;
  return cpuId;
}

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The sha256 of `path`'s head, tail and SAMPLES slices spread evenly over it (all of it when small). */
async function sampledSha256(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const f = await open(path, 'r');
  try {
    const buf = Buffer.alloc(SLICE);
    const offsets = new Set<number>();
    if (size <= SLICE * (SAMPLES + 2)) {
      for (let o = 0; o < size; o += SLICE) offsets.add(o);
    } else {
      offsets.add(0);
      for (let i = 1; i <= SAMPLES; i++) offsets.add(Math.floor(((size - SLICE) * i) / (SAMPLES + 1)));
      offsets.add(size - SLICE);
    }
    for (const o of [...offsets].sort((a, b) => a - b)) {
      const { bytesRead } = await f.read(buf, 0, Math.min(SLICE, size - o), o);
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await f.close();
  }
  return h.digest('hex');
}

async function fullSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  const f = await open(path, 'r');
  try {
    for await (const chunk of f.createReadStream({ highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  } finally {
    await f.close();
  }
  return h.digest('hex');
}

async function fsyncPath(path: string): Promise<void> {
  const f = await open(path, 'r');
  try {
    await f.sync();
  } finally {
    await f.close();
  }
}

/** What a cache lookup found. */
export type CacheLookup =
  { kind: 'hit'; modelPath: string } | { kind: 'miss' } | { kind: 'rebuilt'; reason: string };

export class SessionCache {
  constructor(readonly dir: string) {}

  /**
   * The cache the environment asks for: IMGTOKENS_SESSION_CACHE (a folder, or 0/off/false/no for none), else
   * <tensor cache>/sessions (src/source/hub-env.ts).
   */
  static fromEnv(env: Record<string, string | undefined> = process.env): SessionCache | null {
    const v = env.IMGTOKENS_SESSION_CACHE?.trim();
    if (v && ['0', 'off', 'false', 'no'].includes(v.toLowerCase())) return null;
    return new SessionCache(v || join(hubSettingsFromEnv(env).tensorCache, 'sessions'));
  }

  /** The key and its parts for a graph; `externalFiles` are the absolute paths its external data lives in. */
  async keyOf(
    graph: Uint8Array,
    externalFiles: readonly string[],
    options: Record<string, string | number>,
  ): Promise<{ key: string; parts: SessionKeyParts }> {
    const files = [];
    for (const path of [...new Set(externalFiles)].sort()) {
      const st = await stat(path);
      files.push({ path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    }
    const parts: SessionKeyParts = {
      format: SESSION_CACHE_FORMAT,
      graphSha256: sha256(graph),
      externalFiles: files,
      ortVersion: ortVersion(),
      cpu: cpuFeatures(),
      options,
    };
    return { key: sha256(JSON.stringify(parts)).slice(0, 32), parts };
  }

  entryPath(key: string): string {
    return join(this.dir, key);
  }

  /** Checks entry `key` for `parts`; '' when it can be used, else the reason it cannot. */
  async problem(key: string, parts?: SessionKeyParts, full = false): Promise<string> {
    const dir = this.entryPath(key);
    let m: SessionManifest;
    try {
      m = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as SessionManifest;
    } catch (e) {
      return `no readable manifest (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    }
    if (m.key !== key) return `its manifest is for key ${String(m.key)}`;
    if (m.parts?.format !== SESSION_CACHE_FORMAT)
      return `cache format ${m.parts?.format}, not ${SESSION_CACHE_FORMAT}`;
    if (m.parts.ortVersion !== ortVersion())
      return `built by onnxruntime ${m.parts.ortVersion}, this is ${ortVersion()}`;
    if (m.parts.cpu !== cpuFeatures()) return `built for CPU ${m.parts.cpu}, this is ${cpuFeatures()}`;
    if (parts && JSON.stringify(m.parts) !== JSON.stringify(parts)) return 'its key parts differ';
    for (const [file, rec] of [
      [MODEL_FILE, m.model],
      [WEIGHTS_FILE, m.weights],
    ] as const) {
      const st = await stat(join(dir, file)).catch(() => undefined);
      if (!st) return `${file} is missing`;
      if (st.size !== rec?.size) return `${file} has ${st.size} bytes, ${rec?.size} were written`;
      // (to the millisecond: what utimes can set back)
      if (Math.trunc(st.mtimeMs) !== Math.trunc(rec.mtimeMs))
        return `${file} was modified after it was written`;
    }
    if (sha256(await readFile(join(dir, MODEL_FILE))) !== m.model.sha256)
      return `${MODEL_FILE} fails its hash`;
    const wPath = join(dir, WEIGHTS_FILE);
    if ((await sampledSha256(wPath, m.weights.size)) !== m.weights.sha256)
      return `${WEIGHTS_FILE} fails its hash`;
    if (full && (await fullSha256(wPath)) !== m.weights.fullSha256)
      return `${WEIGHTS_FILE} fails its full hash`;
    return '';
  }

  /** Looks `key` up: a verified entry, nothing, or a broken entry that was removed (to be rebuilt). */
  async lookup(key: string, parts: SessionKeyParts): Promise<CacheLookup> {
    const dir = this.entryPath(key);
    const exists = await stat(dir).then(
      () => true,
      () => false,
    );
    if (!exists) return { kind: 'miss' };
    const reason = await this.problem(key, parts);
    if (reason === '') {
      // The folder's mtime says when the entry was last used (prune() keeps the most recent per label).
      const now = new Date();
      await utimes(dir, now, now).catch(() => undefined);
      return { kind: 'hit', modelPath: join(dir, MODEL_FILE) };
    }
    await this.discard(key);
    return { kind: 'rebuilt', reason };
  }

  /** Removes entry `key`: renamed away first (atomic), so no reader ever sees half of it. */
  async discard(key: string): Promise<void> {
    const dir = this.entryPath(key);
    const trash = join(this.dir, `.trash-${key}-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      await rename(dir, trash);
    } catch {
      return; // already gone (another process discarded or replaced it)
    }
    await rm(trash, { recursive: true, force: true });
  }

  /** A fresh temp folder for building entry `key` (beside the entries: the final rename stays on one filesystem). */
  async tempDir(key: string): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const dir = join(this.dir, `.tmp-${key}-${process.pid}-${Math.random().toString(36).slice(2)}`);
    await mkdir(dir);
    return dir;
  }

  /**
   * Seals a temp folder onnxruntime has saved into: fsyncs the files, writes the manifest last, renames the
   * folder to the entry. Returns false (and drops the temp folder) when another process sealed the key first or
   * onnxruntime wrote no weights file.
   */
  async seal(
    tmp: string,
    key: string,
    parts: SessionKeyParts,
    label: string,
    buildSeconds: number,
  ): Promise<boolean> {
    try {
      const model = join(tmp, MODEL_FILE);
      const weights = join(tmp, WEIGHTS_FILE);
      const wst = await stat(weights).catch(() => undefined);
      if (!wst) {
        // A graph with no initializer of 1 KiB or more writes no weights file: nothing worth keeping.
        await rm(tmp, { recursive: true, force: true });
        return false;
      }
      // The hashes read the files back from the page cache while the fsyncs write them out (llava-1.5-7b's
      // 2.5 GB vision entry on the dev machine: the write-back about 7 s, the full sha256 2 s, now side by side).
      const [sampled, full] = await Promise.all([
        sampledSha256(weights, wst.size),
        fullSha256(weights),
        fsyncPath(model),
        fsyncPath(weights),
      ]);
      const mst = await stat(model);
      const manifest: SessionManifest = {
        key,
        label,
        created: new Date().toISOString(),
        parts,
        model: { size: mst.size, mtimeMs: mst.mtimeMs, sha256: sha256(await readFile(model)) },
        weights: {
          size: wst.size,
          mtimeMs: wst.mtimeMs,
          sha256: sampled,
          fullSha256: full,
        },
        buildSeconds,
      };
      const mPath = join(tmp, MANIFEST_FILE);
      await writeFile(mPath, JSON.stringify(manifest, null, 2) + '\n');
      await fsyncPath(mPath);
      await fsyncPath(tmp);
      await rename(tmp, this.entryPath(key));
      await fsyncPath(this.dir).catch(() => undefined);
      await this.prune(label, key).catch(() => undefined); // a failed prune leaves only extra entries
      return true;
    } catch {
      // ENOTEMPTY / EEXIST: another process sealed this key first; any other failure: no entry this time.
      await rm(tmp, { recursive: true, force: true });
      return false;
    }
  }

  /**
   * Removes the entries labelled `label` but `keep`, least recently used first, until KEEP_PER_LABEL remain
   * (`keep` among them). Reads only the manifests' labels; an entry in use by another process stays valid for it
   * (onnxruntime has mapped its files; removing them only unlinks the names).
   */
  async prune(label: string, keep: string): Promise<string[]> {
    const others: Array<{ key: string; used: number }> = [];
    for (const key of await this.keys()) {
      if (key === keep) continue;
      try {
        const m = JSON.parse(
          await readFile(join(this.entryPath(key), MANIFEST_FILE), 'utf8'),
        ) as SessionManifest;
        if (m.label !== label) continue;
        // An entry of another format is never used by this version: it goes first.
        const used = m.parts?.format === SESSION_CACHE_FORMAT ? (await stat(this.entryPath(key))).mtimeMs : 0;
        others.push({ key, used });
      } catch {
        // no manifest: not an entry of this label (a broken entry is removed when it is looked up)
      }
    }
    others.sort((a, b) => b.used - a.used);
    await this.dropDeadTemps();
    const removed = others.slice(Math.max(0, KEEP_PER_LABEL - 1)).map((o) => o.key);
    for (const key of removed) await this.discard(key);
    return removed;
  }

  /**
   * Removes the temp and trash folders of processes that are gone (`.tmp-<key>-<pid>-…`, `.trash-<key>-<pid>-…`):
   * a process that exited before it finished storing an entry (killed, or process.exit before
   * settleSessionCache) leaves its temp folder behind.
   */
  private async dropDeadTemps(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      const pid = Number(/^\.(?:tmp|trash)-[0-9a-f]+-(\d+)-/.exec(name)?.[1]);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM'; // ESRCH: no such process
      }
      if (!alive) await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }

  /** The entries' keys (folders not starting with a dot: temp and trash folders are not entries). */
  private async keys(): Promise<string[]> {
    try {
      return (await readdir(this.dir, { withFileTypes: true }))
        .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
        .map((d) => d.name);
    } catch {
      return [];
    }
  }

  /** Every entry (temp and trash folders of other processes are not entries), oldest first. */
  async list(): Promise<SessionCacheEntry[]> {
    const names = await this.keys();
    const out: SessionCacheEntry[] = [];
    for (const key of names) {
      const path = this.entryPath(key);
      let bytes = 0;
      for (const f of await readdir(path).catch(() => [] as string[]))
        bytes += (await stat(join(path, f)).catch(() => undefined))?.size ?? 0;
      let m: Partial<SessionManifest> = {};
      try {
        m = JSON.parse(await readFile(join(path, MANIFEST_FILE), 'utf8')) as SessionManifest;
      } catch {
        // reported as the problem below
      }
      out.push({
        key,
        path,
        label: m.label ?? '?',
        created: m.created ?? '?',
        bytes,
        ortVersion: m.parts?.ortVersion ?? '?',
        problem: await this.problem(key),
      });
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  /** Removes every entry (and leftover temp folders); returns the bytes freed. */
  async clear(): Promise<{ entries: number; bytes: number }> {
    const entries = await this.list();
    const bytes = entries.reduce((s, e) => s + e.bytes, 0);
    await rm(this.dir, { recursive: true, force: true });
    return { entries: entries.length, bytes };
  }
}
