/**
 * The text-model registry: what the lens (and, next, the deep lens) needs to know about each language model a
 * VLM family wraps, one TextModelDef per `text_config.model_type`: its config class's defaults (config.json omits
 * values equal to them), how its final norm works and how it scales input embeddings. Adding a text model is one
 * def plus one line in TEXT_MODELS.
 * Defaults are each configuration_<model>.py __init__ at transformers v4.45.1
 * (e71a01a104dd663c730e494eb0b6467bb51df357); norms and scales from modeling_<model>.py (LlamaRMSNorm: w · x/rms;
 * GemmaRMSNorm: (1 + w) · x/rms; GemmaModel.forward: inputs_embeds * float32(sqrt(hidden_size))).
 */
import type { ConfigReader } from '../config/reader.js';
import { CheckpointError } from '../errors.js';

/** The text config fields the lens needs. */
export interface TextConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  rmsNormEps: number;
  /** From text_config.tie_word_embeddings with the text class's default; the loader also checks for an lm_head tensor. */
  tieWordEmbeddings: boolean;
}

/** 'rms' = Llama RMSNorm (w · x/rms); 'rms1p' = Gemma ((1 + w) · x/rms). */
export type NormKind = 'rms' | 'rms1p';

export interface TextModelDefaults {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
}

export interface TextModelDef {
  modelType: string;
  configClass: string;
  defaults: TextModelDefaults;
  normKind: NormKind;
  /** The factor input embeddings are multiplied by before layer 0 (1 unless the model scales them). */
  embedScale(hidden: number): number;
}

/**
 * float32 sqrt(hidden) as torch makes it. Python's `hidden ** 0.5` is the correctly rounded double square root;
 * `torch.tensor(..., dtype=float32)` and the float32 Div against a Python float both round it to float32.
 */
export function f32Sqrt(n: number): number {
  return Math.fround(Math.sqrt(n));
}

const unscaled = (): number => 1;

export const LLAMA: TextModelDef = {
  modelType: 'llama',
  configClass: 'LlamaConfig',
  defaults: {
    vocab_size: 32000,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  normKind: 'rms',
  embedScale: unscaled,
};

export const MISTRAL: TextModelDef = {
  modelType: 'mistral',
  configClass: 'MistralConfig',
  defaults: {
    vocab_size: 32000,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  normKind: 'rms',
  embedScale: unscaled,
};

export const QWEN2: TextModelDef = {
  modelType: 'qwen2',
  configClass: 'Qwen2Config',
  defaults: {
    vocab_size: 151936,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  normKind: 'rms',
  embedScale: unscaled,
};

export const GEMMA: TextModelDef = {
  modelType: 'gemma',
  configClass: 'GemmaConfig',
  defaults: {
    vocab_size: 256000,
    hidden_size: 3072,
    num_hidden_layers: 28,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  normKind: 'rms1p',
  embedScale: f32Sqrt,
};

export const GEMMA2: TextModelDef = {
  modelType: 'gemma2',
  configClass: 'Gemma2Config',
  defaults: {
    vocab_size: 256000,
    hidden_size: 2304,
    num_hidden_layers: 26,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  normKind: 'rms1p',
  embedScale: f32Sqrt,
};

/**
 * Gemma 3's text model (transformers 5.12.1 models/gemma3: Gemma3TextConfig defaults; Gemma3RMSNorm is (1 + w) · x̂
 * with zero-centred weights; Gemma3TextScaledWordEmbedding multiplies the looked-up rows by embed_scale =
 * float32(sqrt(hidden)) inside the embedding). The decoder's shape is src/text/gemma-decoder.ts.
 */
export const GEMMA3_TEXT: TextModelDef = {
  modelType: 'gemma3_text',
  configClass: 'Gemma3TextConfig',
  defaults: {
    vocab_size: 262_208,
    hidden_size: 2304,
    num_hidden_layers: 26,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  normKind: 'rms1p',
  embedScale: f32Sqrt,
};

/**
 * Gemma 4's text model (transformers 5.12.1 models/gemma4: Gemma4TextConfig defaults; Gemma4RMSNorm is PLAIN
 * w · x̂ with weights stored around 1, unlike Gemma 3; the embedding is scaled by float32(sqrt(hidden)) as Gemma 3's).
 */
export const GEMMA4_TEXT: TextModelDef = {
  modelType: 'gemma4_text',
  configClass: 'Gemma4TextConfig',
  defaults: {
    vocab_size: 262_144,
    hidden_size: 2304,
    num_hidden_layers: 30,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  normKind: 'rms',
  embedScale: f32Sqrt,
};

export const TEXT_MODELS: ReadonlyMap<string, TextModelDef> = new Map(
  [LLAMA, MISTRAL, QWEN2, GEMMA, GEMMA2, GEMMA3_TEXT, GEMMA4_TEXT].map((d) => [d.modelType, d]),
);

export function textModelDef(modelType: string, where: string): TextModelDef {
  const d = TEXT_MODELS.get(modelType);
  if (!d) {
    throw new CheckpointError(`${where}: unsupported text model_type "${modelType}"`, {
      hint: `supported text models: ${[...TEXT_MODELS.keys()].join(', ')}`,
    });
  }
  return d;
}

/** Parses a text sub-config (`text_config`) with its class's defaults; a dict without model_type is `defaultModelType`. */
export function parseTextConfig(r: ConfigReader, defaultModelType: string): TextConfig {
  const modelType = r.str('model_type', defaultModelType);
  const d = textModelDef(modelType, r.where).defaults;
  return {
    modelType,
    vocabSize: r.posInt('vocab_size', d.vocab_size),
    hiddenSize: r.posInt('hidden_size', d.hidden_size),
    numHiddenLayers: r.posInt('num_hidden_layers', d.num_hidden_layers),
    rmsNormEps: r.num('rms_norm_eps', d.rms_norm_eps),
    tieWordEmbeddings: r.bool('tie_word_embeddings', d.tie_word_embeddings),
  };
}
