/**
 * What a model source is: a local Hugging Face directory or a hub repo. Both give small files (config.json,
 * tokenizer.json, ...) and tensors by name, read lazily so that only the tensors a model needs are fetched.
 */
import type { ProgressCallback } from '../progress.js';

export type DType = 'F32' | 'F16' | 'BF16';
export const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

/** Where one tensor lives: its file and absolute byte range inside it. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Safetensors file name relative to the model root (e.g. "model-00001-of-00002.safetensors"). */
  file: string;
  /** Absolute byte offsets in the file (header included), [begin, end). */
  begin: number;
  end: number;
}

/** A tensor's raw little-endian bytes in its stored dtype. */
export interface RawTensor {
  info: TensorInfo;
  bytes: Uint8Array;
}

/**
 * Where onnxruntime can read a tensor's stored bytes in place (ONNX external data): byte `offset` of the file
 * `location`, relative to the folder `dir`. onnxruntime (1.30, tensorprotoutils.cc ValidateExternalDataPath)
 * refuses absolute locations and any whose resolved path (symlinks followed) leaves the folder, so `location` is
 * relative, has no `..`, and names a real file, not a symlink out of `dir`.
 */
export interface TensorLocation {
  dir: string;
  location: string;
  offset: number;
}

/**
 * A tensor as graph builders take it: its bytes, or, for a tensor left in place in its file (see
 * ModelSource.tensorLocations), where onnxruntime reads it itself as ONNX external data. All in-place tensors of
 * one onnxruntime session share one `at.dir`: a session has one external-data folder.
 */
export type WeightTensor = RawTensor | { info: TensorInfo; bytes?: undefined; at: TensorLocation };

export interface ModelSource {
  /** For messages: a directory path or "org/name@revision". */
  readonly description: string;
  /**
   * Where the named tensors' bytes lie on disk (fetching and verifying them first where the source caches them),
   * so that onnxruntime reads weights in place (external data) instead of JS reading them and copying them into
   * the model bytes. Sources without it are read with readTensors.
   */
  tensorLocations?(
    names: readonly string[],
    onProgress?: ProgressCallback,
  ): Promise<Map<string, TensorLocation>>;
  /** Reads a small file (config.json, tokenizer.json, ...); null when the model has no such file. */
  readFile(path: string): Promise<Uint8Array | null>;
  /** Every tensor of the checkpoint (headers only; no tensor data is read). */
  tensorIndex(): Promise<Map<string, TensorInfo>>;
  /** Reads the named tensors' bytes. Sources may coalesce neighbouring ranges. */
  readTensors(names: readonly string[], onProgress?: ProgressCallback): Promise<Map<string, RawTensor>>;
  /** Releases file handles / connections. */
  close?(): Promise<void>;
}
