/**
 * A model in a local directory laid out as on the Hugging Face hub: config.json, tokenizer files and
 * safetensors weights, either one `model.safetensors` or shards listed in `model.safetensors.index.json`.
 * Only headers are read up front; tensor bytes are read on demand with positioned reads.
 */
import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BadInputError, CheckpointError, MissingTensorError, NotFoundError } from '../errors.js';
import type { ProgressCallback } from '../progress.js';
import { parseHeader, parseHeaderLength } from './safetensors.js';
import { readSmallFile } from './small-file.js';
import {
  INDEX_FILE,
  SINGLE_FILE,
  isSafeRelativePath,
  mergeShards,
  missingShardError,
  parseShardIndex,
  type ShardIndex,
} from './shards.js';
import type { ModelSource, RawTensor, TensorInfo, TensorLocation } from './types.js';

export { INDEX_FILE, SINGLE_FILE, shardFilesFromIndex } from './shards.js';

export class LocalSource implements ModelSource {
  readonly description: string;
  private index?: Promise<Map<string, TensorInfo>>;

  constructor(readonly dir: string) {
    this.description = dir;
  }

  /**
   * Tensors can be read in place: the files are whole and local. Each file's real path is given (an HF snapshot
   * folder holds symlinks to ../../blobs/<etag>, which onnxruntime refuses as escaping the folder).
   */
  async tensorLocations(names: readonly string[]): Promise<Map<string, TensorLocation>> {
    const infos = await this.lookup(names);
    const real = new Map<string, string>();
    for (const t of infos) if (!real.has(t.file)) real.set(t.file, await realpath(join(this.dir, t.file)));
    return new Map(
      infos.map((t) => {
        const path = real.get(t.file)!;
        return [t.name, { dir: dirname(path), location: basename(path), offset: t.begin }];
      }),
    );
  }

  private async lookup(names: readonly string[]): Promise<TensorInfo[]> {
    const index = await this.tensorIndex();
    return names.map((n) => {
      const info = index.get(n);
      if (!info) throw new MissingTensorError(`${this.dir}: the checkpoint has no tensor named ${n}`);
      return info;
    });
  }

  async readFile(path: string): Promise<Uint8Array | null> {
    if (!isSafeRelativePath(path))
      throw new BadInputError(`${this.dir}: invalid file name ${JSON.stringify(path)}`);
    return readSmallFile(join(this.dir, path));
  }

  tensorIndex(): Promise<Map<string, TensorInfo>> {
    this.index ??= this.buildIndex();
    return this.index;
  }

  private async buildIndex(): Promise<Map<string, TensorInfo>> {
    const indexBytes = await this.readFile(INDEX_FILE);
    let index: ShardIndex | undefined;
    let files: string[];
    if (indexBytes) {
      index = parseShardIndex(indexBytes, this.dir);
      files = index.files;
    } else if (await this.exists(SINGLE_FILE)) files = [SINGLE_FILE];
    else {
      throw new NotFoundError(`${this.dir}: no ${SINGLE_FILE} or ${INDEX_FILE}`, {
        hint: 'imgtokens reads safetensors checkpoints; convert .bin weights with transformers save_pretrained(safe_serialization=True)',
      });
    }
    const shards = [];
    for (const file of files) shards.push({ file, tensors: await this.readHeader(file, index) });
    return mergeShards(this.dir, shards, index);
  }

  private async exists(path: string): Promise<boolean> {
    try {
      await stat(join(this.dir, path));
      return true;
    } catch {
      return false;
    }
  }

  private async readHeader(file: string, index?: ShardIndex): Promise<TensorInfo[]> {
    const path = join(this.dir, file);
    let fh;
    try {
      // Non-blocking so that a FIFO in place of a shard fails below instead of hanging the open.
      fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      if (index && (e as NodeJS.ErrnoException).code === 'ENOENT')
        throw missingShardError(this.dir, file, index, e);
      throw new CheckpointError(`${path}: cannot be opened (${(e as Error).message})`, { cause: e });
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        throw new CheckpointError(
          `${path} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}; a safetensors file is needed`,
          { hint: 'replace it with the real shard file' },
        );
      }
      const size = st.size;
      const first8 = new Uint8Array(Math.min(8, size));
      await fh.read(first8, 0, first8.byteLength, 0);
      const n = parseHeaderLength(first8, path, size);
      const json = new Uint8Array(n);
      await fh.read(json, 0, n, 8);
      return parseHeader(json, path, size).tensors.map((t) => ({ ...t, file }));
    } finally {
      await fh.close();
    }
  }

  async readTensors(
    names: readonly string[],
    onProgress?: ProgressCallback,
  ): Promise<Map<string, RawTensor>> {
    const infos = await this.lookup(names);
    const total = infos.reduce((a, t) => a + (t.end - t.begin), 0);
    let done = 0;
    const out = new Map<string, RawTensor>();
    const byFile = new Map<string, TensorInfo[]>();
    for (const t of infos) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t]);
    onProgress?.({ status: 'initiate', task: 'read', label: 'reading weights', total, unit: 'bytes' });
    for (const [file, ts] of byFile) {
      const fh = await open(join(this.dir, file), 'r');
      try {
        for (const t of ts.sort((a, b) => a.begin - b.begin)) {
          const bytes = new Uint8Array(t.end - t.begin);
          const { bytesRead } = await fh.read(bytes, 0, bytes.byteLength, t.begin);
          if (bytesRead !== bytes.byteLength) {
            throw new CheckpointError(
              `${join(this.dir, file)}: tensor ${t.name} is truncated (read ${bytesRead} of ${bytes.byteLength} bytes)`,
            );
          }
          out.set(t.name, { info: t, bytes });
          done += bytes.byteLength;
          onProgress?.({
            status: 'progress',
            task: 'read',
            label: 'reading weights',
            done,
            total,
            unit: 'bytes',
          });
        }
      } finally {
        await fh.close();
      }
    }
    onProgress?.({ status: 'done', task: 'read', label: 'reading weights' });
    return out;
  }
}
