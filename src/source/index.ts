/**
 * Model sources: `openSource` turns what the user typed (a directory or a hub id) into a ModelSource.
 * Re-exports the source API.
 */
import { stat } from 'node:fs/promises';
import { BadInputError } from '../errors.js';
import { HubSource, parseRepoRef, type HubSourceOptions } from './hub.js';
import { LocalSource } from './local.js';
import type { ModelSource } from './types.js';

export type { DType, ModelSource, RawTensor, TensorInfo, TensorLocation, WeightTensor } from './types.js';
export { DTYPE_BYTES } from './types.js';
export { LocalSource } from './local.js';
export { HubSource, parseRepoRef, isRepoId, coalesceRanges } from './hub.js';
export type { HubSourceOptions, RepoRef, DownloadPlan, DownloadStats } from './hub.js';
export { hubSettingsFromEnv, type HubSettings } from './hub-env.js';
export { listCache, removeFromCache, prefetch, SMALL_FILES } from './cache.js';
export type { CachedModel, RemovedCache, PrefetchResult } from './cache.js';
export { tensorToFloat32, toFloat32 } from './safetensors.js';

/**
 * An existing local directory opens as a LocalSource; otherwise `org/name[@revision]` opens as a HubSource.
 * Anything else (a missing path, a file, a malformed id) is a BadInputError.
 */
export async function openSource(model: string, opts: HubSourceOptions = {}): Promise<ModelSource> {
  const st = await stat(model).catch(() => undefined);
  if (st?.isDirectory()) return new LocalSource(model);
  if (st) {
    throw new BadInputError(`${model} is a file, not a model directory`, {
      hint: 'pass the directory that holds config.json and the safetensors files, or a hub id like org/name',
    });
  }
  const looksLikePath =
    /^(\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:[\\/])/.test(model) || model.split('@')[0].split('/').length > 2;
  if (!looksLikePath && parseRepoRef(model)) return new HubSource(model, opts);
  throw new BadInputError(
    looksLikePath
      ? `no such directory: ${model}`
      : `${JSON.stringify(model)} is neither an existing directory nor a hub model id`,
    { hint: 'pass a local model directory, or a hub id such as llava-hf/llava-v1.6-vicuna-7b-hf[@revision]' },
  );
}
