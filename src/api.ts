/**
 * The library's public contract: load a model once, then encode and analyse many images with it.
 * Implemented in src/model.ts.
 */
import type { ProgressCallback } from './progress.js';
import type { HubSourceOptions } from './source/hub.js';
import type { ImageFeatures, ImageInput, LensOptions, ResultJson, ViewName } from './types.js';

export type Device = 'cpu' | 'webgpu' | 'cuda';

export interface LoadOptions {
  /** Branch, tag or commit for hub models (also accepted as "org/name@rev"). */
  revision?: string;
  device?: Device;
  onProgress?: ProgressCallback;
  /** Hub settings (endpoint, token, cache folders, offline, retries); by default from HF_* environment variables. */
  hub?: Omit<HubSourceOptions, 'revision' | 'onProgress'>;
  /**
   * transformers 5's image-processor backend to mirror, for families that have two ('torchvision', what
   * AutoProcessor picks, or 'pil', the `*ImageProcessorPil` classes); default: the family's default.
   */
  imageBackend?: ImageBackend;
  /**
   * Where to keep what onnxruntime builds at session creation, so later loads skip it (src/runtime/
   * session-cache.ts): a folder, or false for no cache. Default: IMGTOKENS_SESSION_CACHE, else
   * <HF_HOME>/imgtokens/sessions (beside the tensor cache).
   */
  sessionCache?: string | false;
}

export type ImageBackend = 'pil' | 'torchvision';

export interface EncodeOptions {
  /** Rotate/flip by the EXIF orientation tag first (transformers ignores it, so the default is false). */
  exifTranspose?: boolean;
  /** A name for the image, recorded in results. */
  name?: string;
  onProgress?: ProgressCallback;
  /** Stops the work at the next stage boundary (decode, preprocess, vision tower) once aborted. */
  signal?: AbortSignal;
}

export interface ModelInfo {
  /** What the user named: a directory or a hub id. */
  id: string;
  modelType: string;
  revision?: string;
  vocabSize: number;
  hidden: number;
  /** Token views this model produces (base only for llava; base + grid for anyres models). */
  views: ViewName[];
}

export interface ImgTokensModel {
  readonly info: ModelInfo;
  /** Decode, preprocess, run the vision tower and projector, pack: what the LLM receives. */
  encode(image: ImageInput, opts?: EncodeOptions): Promise<ImageFeatures>;
  /** Map every image token to its top-k vocabulary entries. */
  lens(features: ImageFeatures, opts: LensOptions): Promise<ResultJson>;
  /** encode + lens. */
  analyze(image: ImageInput, opts: LensOptions & EncodeOptions): Promise<ResultJson>;
  close(): Promise<void>;
}
