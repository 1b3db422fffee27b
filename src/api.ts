/**
 * The library's public contract: load a model once, then encode and analyse many images with it.
 * Implemented in src/model.ts.
 */
import type { LensMethod } from './lens-methods.js';
import type { ProgressCallback } from './progress.js';
import type { HubSourceOptions } from './source/hub.js';
import type { WeightDType } from './graph/quant.js';
import type {
  DeepJson,
  ExcludeKind,
  ImageFeatures,
  ImageInput,
  LensOptions,
  ResultJson,
  ViewName,
} from './types.js';

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
   * AutoProcessor picks, or 'pil', the `*ImageProcessorPil` classes = transformers 4.45, Pillow bit for bit); default:
   * 'torchvision' for every family (Family.imageBackends), as transformers 5.
   */
  imageBackend?: ImageBackend;
  /**
   * Whose behaviour to mirror where transformers 4.45.1 and 5.x differ (README-v5-vs-v445 in the fixtures; default
   * 'v5'). 'v4' also makes the Pillow backend the default (4.45 had only it) and LLaVA-NeXT / OneVision pad odd
   * sizes 4.45's way and un-pad with int(); 'v5' pads floor before / ceil after and un-pads with int(round(x, 7)).
   * The deep lens follows it too (DeepOptions.reference overrides it per run).
   */
  reference?: Reference;
  /**
   * Where to keep what onnxruntime builds at session creation, so later loads skip it (src/runtime/
   * session-cache.ts): a folder, or false for no cache. Default: IMGTOKENS_SESSION_CACHE, else
   * <HF_HOME>/imgtokens/sessions (beside the tensor cache).
   */
  sessionCache?: string | false;
  /**
   * Lens methods to get ready while the vision graph loads: the lens then lives in a worker thread of its own
   * (src/lens/thread.ts) and builds those methods' sessions at once, beside this thread's vision build and
   * preprocessing, instead of after the tower has run. batch passes its --method: with pre-packed weights (the
   * default) a projection session takes about 0.6 s to build. With prepackWeights false sessions build in about
   * 0.07 s and the thread only costs its start (the CLI's analyze does without it). Default: none (the lens runs
   * in this thread and builds a method's sessions on its first use).
   */
  prepareLens?: readonly LensMethod[];
  /**
   * Let onnxruntime pre-pack the weights at session creation (default true: the fastest runs, for a model that
   * analyses many images). false: its sessions map the weights (from the session cache) as they are and pack
   * them during each run: the fastest start for one image, which the CLI's analyze uses (llava-1.5-7b shapes on
   * the 2-core dev machine: the vision session created in 0.07 s instead of about 1.2 s; each tower run about
   * 0.1 s slower). The same words either way; scores within float rounding (the packed and unpacked kernels
   * sum in another order: 5e-8 apart there).
   */
  prepackWeights?: boolean;
}

export type ImageBackend = 'pil' | 'torchvision';
/** A transformers version whose behaviour to mirror. */
export type Reference = 'v4' | 'v5';

export interface EncodeOptions {
  /** Rotate/flip by the EXIF orientation tag first (transformers ignores it, so the default is false). */
  exifTranspose?: boolean;
  /** A name for the image, recorded in results. */
  name?: string;
  onProgress?: ProgressCallback;
  /** Stops the work at the next stage boundary (decode, preprocess, vision tower) once aborted. */
  signal?: AbortSignal;
}

/** The deep lens (issue 12): the language model run on the image's prompt, the lens read at every chosen layer. */
export interface DeepOptions {
  /** hidden_states indices: 'all' (default), 'a-b', 'i,j,k', or a list. 0 = the input embeddings. */
  layers?: string | readonly number[];
  /** The question, put through the model's chat template (default "What is shown in this image?"). */
  prompt?: string;
  /** The prompt text handed to the processor as is (it must hold the image placeholder once); wins over prompt. */
  rawPrompt?: string;
  /**
   * The decoder's linear layers: 'fp32' (default, exact) or the opt-in fast path 'q8' / 'q4' (weight-only
   * blockwise int8 / int4, quantized at layer load, onnxruntime MatMulNBits; src/graph/quant.ts).
   */
  dtype?: WeightDType;
  /** Whose behaviour to mirror where transformers 4.45.1 and 5.x differ (default 'v5'). */
  reference?: Reference;
  /** 'llava-interp': apply the final norm a second time at the last layer, as clemneo/llava-interp does. */
  compat?: 'llava-interp';
  /** Words per token and lens (default 5). */
  k?: number;
  exclude?: ExcludeKind[];
  /**
   * Keep hidden_states[L] at the image rows of every chosen layer in DeepResult.tensors.hiddenStates (what
   * --dump-tensors writes; 33 x 576 x 4096 floats = 311 MB for a 7B model). Default false: hiddenStates is empty.
   */
  keepHidden?: boolean;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** What Model.deep returns: the JSON part and the arrays --dump-tensors writes (fixture names and shapes). */
export interface DeepResult {
  deep: DeepJson;
  tensors: {
    /** int64 [1, seq] */
    inputIds: BigInt64Array;
    /**
     * float32 [chosen layers, n_image_tokens, hidden]: hidden_states[L] at the image rows (index N normed); empty
     * unless DeepOptions.keepHidden.
     */
    hiddenStates: Float32Array;
    /** int64 / float32 [chosen layers, n_image_tokens, k]: the logit lens. */
    lensIds: BigInt64Array;
    lensScores: Float32Array;
    /** float32 [vocab] logits at the last prompt position; null when the last layer was not run. */
    finalLogits: Float32Array | null;
    shape: { layers: number; tokens: number; hidden: number; k: number; seq: number };
  };
  /** Seconds per decoder layer (read + quantize + build + run) and of that the session run, for benches. */
  timing?: { layerSeconds: number[]; runSeconds: number[] };
}

export interface ModelInfo {
  /** What the user named: a directory or a hub id. */
  id: string;
  /** LoadOptions.reference (default 'v5'). */
  reference: Reference;
  modelType: string;
  revision?: string;
  vocabSize: number;
  hidden: number;
  /** Token views this model produces (base only for llava; base + grid for anyres models). */
  views: ViewName[];
  /** The image-processor backend the model's processor runs (LoadOptions.imageBackend or the family's default). */
  imageBackend?: ImageBackend;
}

export interface ImgTokensModel {
  readonly info: ModelInfo;
  /** Decode, preprocess, run the vision tower and projector, pack: what the LLM receives. */
  encode(image: ImageInput, opts?: EncodeOptions): Promise<ImageFeatures>;
  /** Map every image token to its top-k vocabulary entries. */
  lens(features: ImageFeatures, opts: LensOptions): Promise<ResultJson>;
  /** encode + lens (+ the deep lens when `deep` is given: ResultJson.deep, schema imgtokens.result/2). */
  analyze(image: ImageInput, opts: LensOptions & EncodeOptions & { deep?: DeepOptions }): Promise<ResultJson>;
  /** The deep lens on encoded features (optional: thin proxies such as the server's model thread may lack it). */
  deep?(features: ImageFeatures, opts?: DeepOptions): Promise<DeepResult>;
  close(): Promise<void>;
}
