/**
 * Sharded checkpoints: parsing `model.safetensors.index.json` and merging the shards' headers into one
 * tensor index, checking that the index and the shards agree. Shared by LocalSource and HubSource so that
 * both reject the same malformed checkpoints with the same messages.
 */
import { CheckpointError } from '../errors.js';
import type { TensorInfo } from './types.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

export interface ShardIndex {
  /** Shard files, sorted. */
  files: string[];
  /** tensor name -> shard file, as listed in the index. */
  weightMap: Map<string, string>;
}

/** Rejects absolute paths, `..` segments and backslashes in a file name from a checkpoint or a caller. */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || p.startsWith('/') || p.includes('\\') || p.includes('\0')) return false;
  return p.split('/').every((s) => s !== '..' && s !== '.' && s !== '');
}

/** Parses `model.safetensors.index.json`, validating its shape. `where` names the model for messages. */
export function parseShardIndex(bytes: Uint8Array, where: string): ShardIndex {
  let idx: unknown;
  try {
    idx = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CheckpointError(`${where}: ${INDEX_FILE} is not valid JSON`, { cause: e });
  }
  const map = (idx as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new CheckpointError(`${where}: ${INDEX_FILE} has no weight_map object`);
  const weightMap = new Map<string, string>();
  for (const [name, f] of Object.entries(map as Record<string, unknown>)) {
    if (typeof f !== 'string' || !isSafeRelativePath(f)) {
      throw new CheckpointError(
        `${where}: ${INDEX_FILE} maps tensor ${name} to an invalid shard file ${JSON.stringify(f)}`,
      );
    }
    weightMap.set(name, f);
  }
  if (weightMap.size === 0) throw new CheckpointError(`${where}: ${INDEX_FILE} lists no tensors`);
  return { files: [...new Set(weightMap.values())].sort(), weightMap };
}

/** The shard files listed in an index (kept for callers of the first API). */
export function shardFilesFromIndex(bytes: Uint8Array, where: string): string[] {
  return parseShardIndex(bytes, where).files;
}

/** Error for a shard that the index lists but that is absent; names a tensor it should hold. */
export function missingShardError(
  where: string,
  file: string,
  index: ShardIndex,
  cause?: unknown,
): CheckpointError {
  const listed = [...index.weightMap].filter(([, f]) => f === file).map(([n]) => n);
  return new CheckpointError(
    `${where}: shard ${file} listed in ${INDEX_FILE} (for ${listed.length} tensors, e.g. tensor ${listed[0]}) is missing`,
    { cause, hint: 'the checkpoint is incomplete; download the missing shard again' },
  );
}

/**
 * Merges per-shard tensor lists into one index. Fails on a tensor present in two shards, and on a tensor
 * the index maps to a shard that does not contain it. Tensors a shard holds but the index omits are kept
 * (transformers tolerates them too).
 */
export function mergeShards(
  where: string,
  shards: ReadonlyArray<{ file: string; tensors: readonly TensorInfo[] }>,
  index?: ShardIndex,
): Map<string, TensorInfo> {
  const out = new Map<string, TensorInfo>();
  for (const { file, tensors } of shards) {
    for (const t of tensors) {
      const prev = out.get(t.name);
      if (prev) {
        throw new CheckpointError(`${where}: tensor ${t.name} appears in both ${prev.file} and ${file}`, {
          hint: 'the shards come from different checkpoints; download the model again',
        });
      }
      out.set(t.name, t);
    }
  }
  if (index) {
    for (const [name, file] of index.weightMap) {
      const t = out.get(name);
      if (!t || t.file !== file) {
        throw new CheckpointError(
          `${where}: ${INDEX_FILE} lists tensor ${name} in ${file}, but ${t ? `it is in ${t.file}` : 'no shard contains it'}`,
          { hint: 'the index and the shards disagree; download the model again' },
        );
      }
    }
  }
  return out;
}
