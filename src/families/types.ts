/**
 * The family contract. A family is one folder, `src/families/<model_type>/`, whose index.ts exports one Family;
 * src/families/index.ts registers it by model_type (one line). The folder owns the config parsing with HF's
 * defaults, the image processor(s) it accepts, the vision graph, the token layout and the packing; shared layers
 * (src/config, src/image, src/graph, src/layout, src/text) never import a family.
 * The model loader (src/model.ts) drives every family the same way:
 *   load(config, preprocessor, tensor index) -> LoadedFamily
 *   read visionTensorNames() + extraTensorNames() -> buildVisionGraph() -> one onnxruntime session
 *   per image: preprocess with `processor` (src/families/index.ts preprocessImage) -> visionInputs(pre) -> run
 *   -> crop_features [crops, tokens, hidden] -> layout(pre) -> pack(...) -> [layout tokens, hidden]
 */
import type { ImageBackend, Reference } from '../api.js';
import type { ConfigReader, Json } from '../config/reader.js';
import type { LanguageSide } from '../llm/spec.js';
import type { PreprocessResult, ProcessorDef, ProcessorSpec } from '../image/processor.js';
import type { NamedTensor } from '../runtime/session.js';
import type { TensorInfo, WeightTensor } from '../source/types.js';
import type { TextSpec } from '../text/tensors.js';
import type { TokenLayout, ViewName } from '../types.js';

export type { TextSpec } from '../text/tensors.js';

/** The ONNX names every vision graph uses for its pixel input and its per-crop output. */
export const PIXEL_INPUT = 'pixel_values';
export const FEATURES_OUTPUT = 'crop_features';

/** What the vision graph takes for one prepared image, and the [crops, tokens] of the crop_features it returns. */
export interface VisionInputs {
  /** Every graph input by name: pixel_values and any others (Qwen2-VL: the 2-D rotary angles). */
  feeds: Record<string, NamedTensor>;
  /** crop_features is [cropShape[0], cropShape[1], text hidden]. */
  cropShape: [number, number];
  /**
   * Set when the crops are independent: `pixel_values` holds them along this axis (every axis before it of size
   * 1) and the graph's outputs are crop-major, so the model may run them a few at a time and concatenate
   * (src/model.ts). Unset: one run over everything (Qwen-VL's patch sequences with their 2-D angles).
   */
  cropAxis?: number;
}

/** A family bound to one checkpoint's config and tensor index. */
export interface LoadedFamily {
  modelType: string;
  /** The views this model's layouts have, in sequence order. */
  views: ViewName[];
  /** The language-model side: lens matrices, norm, embedding scale, decoder settings and tensor naming. */
  text: TextSpec;
  /**
   * The language model's input side for the deep lens: prompt format and placeholder expansion, positions,
   * attention mask (src/llm/spec.ts). null: the deep lens does not support this family yet (it says so).
   */
  language: LanguageSide | null;
  /** Notices for the user (e.g. tied embeddings assumed). */
  notices: string[];
  /** The image processor's settings: plain data, run by its registered ProcessorDef (also in a worker thread). */
  processor: ProcessorSpec;
  /** The image-processor backend the processor runs (families with both; src/image/backend.ts). */
  imageBackend?: ImageBackend;
  /** Every checkpoint tensor the vision graph needs (nothing else is read). */
  visionTensorNames(): string[];
  /** Vectors packed into the sequence besides the crops (LLaVA-NeXT image_newline); read as float32. */
  extraTensorNames(): string[];
  /** ONNX model: visionInputs' feeds -> crop_features [crops, tokens, hidden]. */
  buildVisionGraph(tensors: ReadonlyMap<string, WeightTensor>): Uint8Array;
  visionInputs(pre: PreprocessResult): VisionInputs;
  /** pixel_values' shape as transformers' processor returns it, when `pre.shape` alone does not say (optional). */
  processorShape?(pre: PreprocessResult): number[];
  layout(pre: PreprocessResult): TokenLayout;
  /** Packs crop_features into what the LLM receives, [layout tokens, hidden]. */
  pack(
    cropFeatures: Float32Array,
    pre: PreprocessResult,
    layout: TokenLayout,
    extra: ReadonlyMap<string, Float32Array>,
  ): Float32Array;
}

export interface FamilyLoadArgs {
  config: ConfigReader;
  /** preprocessor_config.json, or null when the checkpoint has none. */
  preprocessor: Json | null;
  /** processor_config.json (transformers 5.x nests the image processor in it), or null / absent. */
  processorConfig?: Json | null;
  /** LoadOptions.imageBackend: for families with a torchvision and a PIL processor; absent = the family's default. */
  imageBackend?: ImageBackend;
  /** LoadOptions.reference: whose behaviour to mirror where transformers 4.45.1 and 5.x differ; absent = 'v5'. */
  reference?: Reference;
  index: ReadonlyMap<string, TensorInfo>;
  /** The model source, for messages. */
  where: string;
}

export interface Family {
  modelType: string;
  /** Human name, e.g. "LLaVA-1.5". */
  label: string;
  /** A hub id of a real checkpoint of this family. */
  exampleHubId: string;
  /** What each view shows, for `imgtokens models` and the README. */
  viewsDescription: string;
  /** The image processor classes this family accepts (registered by type in src/families/index.ts). */
  processors: readonly ProcessorDef[];
  /** The image-processor backends load() honours (FamilyLoadArgs.imageBackend) and the one it runs without it. */
  imageBackends?: { options: readonly ImageBackend[]; default: ImageBackend };
  load(args: FamilyLoadArgs): LoadedFamily;
}

/** pixel_values as the vision graph's only input, and [crops, tokensPerCrop] crop_features. */
export function pixelInputs(pre: PreprocessResult, tokensPerCrop: number): VisionInputs {
  return {
    feeds: { [PIXEL_INPUT]: { data: pre.pixelValues, shape: [...pre.shape] } },
    cropShape: [pre.shape[0], tokensPerCrop],
    cropAxis: 0,
  };
}
