/**
 * What one architecture file provides. `src/arch/<model_type>.ts` exports one ArchFamily; `src/arch/index.ts`
 * registers it by model_type. The model loader (src/model.ts) drives every family the same way:
 * parse config -> list tensors -> read them -> build the vision graph -> per image: preprocess, run, lay out, pack.
 */
import type { PreprocessResult, ProcessorSpec } from '../image/processors.js';
import type { WeightTensor, TensorInfo } from '../source/types.js';
import type { NamedTensor } from '../runtime/session.js';
import type { RgbImage, TokenLayout, ViewName } from '../types.js';
import type { ConfigReader, Json } from './config.js';
import type { ImageBackend } from '../api.js';

/** Which vocabulary matrices the lens uses, and how the text model normalises. */
export interface TextSpec {
  vocabSize: number;
  hidden: number;
  rmsEps: number;
  /** 'rms' = Llama RMSNorm (w · x/rms); 'rms1p' = Gemma ((1 + w) · x/rms). */
  normKind: 'rms' | 'rms1p';
  /** Factor the LLM multiplies input embeddings by (Gemma: sqrt(hidden)); 1 for Llama/Mistral/Qwen2. */
  embedScale: number;
  /** Checkpoint tensor names. lmHead is null when the embeddings are tied. */
  embed: string;
  lmHead: string | null;
  norm: string;
}

/** A family bound to one checkpoint's config and tensor index. */
export interface LoadedFamily {
  modelType: string;
  views: ViewName[];
  text: TextSpec;
  /** Notices for the user (e.g. tied embeddings assumed). */
  notices: string[];
  /** Every checkpoint tensor the vision graph needs (nothing else is read). */
  visionTensorNames(): string[];
  /** Extra tensors packed into the sequence (LLaVA-NeXT image_newline), or none. */
  extraTensorNames(): string[];
  /** ONNX model: pixel_values [crops, C, H, W] -> crop_features [crops, tokensPerCrop, hidden]. */
  buildVisionGraph(tensors: ReadonlyMap<string, WeightTensor>): Uint8Array;
  tokensPerCrop: number;
  /**
   * crop_features' [crops, tokens] for this image, when it depends on the image (Qwen2-VL: [1, patches / 4]);
   * absent: [pre.shape[0], tokensPerCrop].
   */
  cropShape?(pre: PreprocessResult): [number, number];
  /** Vision-graph inputs besides pixel_values for this image (Qwen2-VL: the 2-D rotary angles); absent: none. */
  graphInputs?(pre: PreprocessResult): Record<string, NamedTensor>;
  /**
   * The image processor's settings when `preprocess` is `preprocess(rgb, processor)` of src/image/processors.ts
   * (plain data, so batch mode can preprocess in a worker thread); absent for families that preprocess otherwise.
   */
  processor?: ProcessorSpec;
  preprocess(rgb: RgbImage): PreprocessResult;
  layout(pre: PreprocessResult): TokenLayout;
  /** Packs per-crop features into what the LLM receives, [tokens, hidden]. */
  pack(
    cropFeatures: Float32Array,
    pre: PreprocessResult,
    layout: TokenLayout,
    extra: ReadonlyMap<string, Float32Array>,
  ): Float32Array;
}

export interface ArchFamily {
  modelType: string;
  /** Human name, e.g. "LLaVA-1.5". */
  label: string;
  /** A hub id of a real checkpoint of this family. */
  exampleHubId: string;
  /** What each view shows, for `imgtokens models` and the README. */
  viewsDescription: string;
  load(args: {
    config: ConfigReader;
    preprocessor: Json | null;
    /** processor_config.json as a whole (transformers 5: processor-level keys such as image_seq_len), or null. */
    processorConfig?: Json | null;
    /** Load options a family may honour (absent = defaults). */
    options?: { imageBackend?: ImageBackend };
    index: ReadonlyMap<string, TensorInfo>;
    where: string;
  }): LoadedFamily;
}
