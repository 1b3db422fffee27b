/**
 * Typed config parsing at the boundary. config.json omits values equal to the class defaults
 * (PretrainedConfig.to_diff_dict), so every reader applies HF's defaults explicitly and says where they come from.
 * References (transformers v4.45.1, e71a01a104dd663c730e494eb0b6467bb51df357):
 *   models/clip/configuration_clip.py (CLIPVisionConfig), models/llama/configuration_llama.py (LlamaConfig),
 *   models/mistral/configuration_mistral.py, models/llava/configuration_llava.py, models/llava_next/configuration_llava_next.py
 */
import { CheckpointError } from '../errors.js';

export type Json = Record<string, unknown>;

/** Field readers that fail with the file and field name. */
export class ConfigReader {
  constructor(
    readonly raw: Json,
    readonly where: string,
  ) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }
  num(key: string, dflt?: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) throw new CheckpointError(`${this.where}: missing required field "${key}"`);
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new CheckpointError(`${this.where}: field "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
  int(key: string, dflt?: number): number {
    const v = this.num(key, dflt);
    if (!Number.isInteger(v))
      throw new CheckpointError(`${this.where}: field "${key}" must be an integer, got ${v}`);
    return v;
  }
  posInt(key: string, dflt?: number): number {
    const v = this.int(key, dflt);
    if (v <= 0) throw new CheckpointError(`${this.where}: field "${key}" must be positive, got ${v}`);
    return v;
  }
  str(key: string, dflt?: string): string {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) throw new CheckpointError(`${this.where}: missing required field "${key}"`);
      return dflt;
    }
    if (typeof v !== 'string')
      throw new CheckpointError(`${this.where}: field "${key}" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
  bool(key: string, dflt: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean')
      throw new CheckpointError(
        `${this.where}: field "${key}" must be true or false, got ${JSON.stringify(v)}`,
      );
    return v;
  }
  numArray(key: string, dflt?: number[]): number[] {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) throw new CheckpointError(`${this.where}: missing required field "${key}"`);
      return dflt;
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) {
      throw new CheckpointError(
        `${this.where}: field "${key}" must be a list of numbers, got ${JSON.stringify(v)}`,
      );
    }
    return v as number[];
  }
  sub(key: string): ConfigReader {
    const v = this.raw[key];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) {
      throw new CheckpointError(`${this.where}: field "${key}" must be an object`);
    }
    return new ConfigReader((v ?? {}) as Json, `${this.where} → ${key}`);
  }
}

// ---------------------------------------------------------------- vision towers

export interface VisionTowerConfig {
  modelType: string; // clip_vision_model | siglip_vision_model
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numChannels: number;
  imageSize: number;
  patchSize: number;
  hiddenAct: string;
  layerNormEps: number;
}

/** CLIPVisionConfig defaults (configuration_clip.py, CLIPVisionConfig.__init__). */
export const CLIP_VISION_DEFAULTS = {
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_channels: 3,
  image_size: 224,
  patch_size: 32,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
};

/** SiglipVisionConfig defaults (configuration_siglip.py, SiglipVisionConfig.__init__). */
export const SIGLIP_VISION_DEFAULTS = {
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_channels: 3,
  image_size: 224,
  patch_size: 16,
  hidden_act: 'gelu_pytorch_tanh',
  layer_norm_eps: 1e-6,
};

/**
 * The vision sub-config of a LLaVA-family config. When `vision_config` is absent, LlavaConfig builds
 * CLIPVisionConfig(intermediate_size=4096, hidden_size=1024, patch_size=14, image_size=336,
 * num_hidden_layers=24, num_attention_heads=16) (configuration_llava.py); a present dict without model_type
 * is a clip_vision_model.
 */
export function parseVisionTowerConfig(parent: ConfigReader, key = 'vision_config'): VisionTowerConfig {
  const present = parent.has(key);
  const r = parent.sub(key);
  const modelType = r.str('model_type', 'clip_vision_model');
  let d: typeof CLIP_VISION_DEFAULTS;
  if (modelType === 'clip_vision_model') {
    d = present
      ? CLIP_VISION_DEFAULTS
      : {
          ...CLIP_VISION_DEFAULTS,
          intermediate_size: 4096,
          hidden_size: 1024,
          patch_size: 14,
          image_size: 336,
          num_hidden_layers: 24,
          num_attention_heads: 16,
        };
  } else if (modelType === 'siglip_vision_model') {
    d = SIGLIP_VISION_DEFAULTS;
  } else {
    throw new CheckpointError(`${r.where}: unsupported vision tower model_type "${modelType}"`, {
      hint: 'supported vision towers: clip_vision_model, siglip_vision_model',
    });
  }
  const cfg: VisionTowerConfig = {
    modelType,
    hiddenSize: r.posInt('hidden_size', d.hidden_size),
    intermediateSize: r.posInt('intermediate_size', d.intermediate_size),
    numHiddenLayers: r.posInt('num_hidden_layers', d.num_hidden_layers),
    numAttentionHeads: r.posInt('num_attention_heads', d.num_attention_heads),
    numChannels: r.posInt('num_channels', d.num_channels),
    imageSize: r.posInt('image_size', d.image_size),
    patchSize: r.posInt('patch_size', d.patch_size),
    hiddenAct: r.str('hidden_act', d.hidden_act),
    layerNormEps: r.num('layer_norm_eps', d.layer_norm_eps),
  };
  if (cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    throw new CheckpointError(
      `${r.where}: hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numAttentionHeads}`,
    );
  }
  if (cfg.imageSize % cfg.patchSize !== 0) {
    throw new CheckpointError(
      `${r.where}: image_size ${cfg.imageSize} is not divisible by patch_size ${cfg.patchSize}`,
    );
  }
  return cfg;
}

// ---------------------------------------------------------------- text models (only what the lens needs)

export interface TextConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  rmsNormEps: number;
  /** From text_config.tie_word_embeddings with the text class's default; the loader also checks for an lm_head tensor. */
  tieWordEmbeddings: boolean;
}

/** Class defaults of the LLMs LLaVA-family checkpoints use (each configuration_<model>.py __init__). */
export const TEXT_DEFAULTS: Record<
  string,
  {
    vocab_size: number;
    hidden_size: number;
    num_hidden_layers: number;
    rms_norm_eps: number;
    tie_word_embeddings: boolean;
  }
> = {
  llama: {
    vocab_size: 32000,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  mistral: {
    vocab_size: 32000,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  qwen2: {
    vocab_size: 151936,
    hidden_size: 4096,
    num_hidden_layers: 32,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  gemma: {
    vocab_size: 256000,
    hidden_size: 3072,
    num_hidden_layers: 28,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  gemma2: {
    vocab_size: 256000,
    hidden_size: 2304,
    num_hidden_layers: 26,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
};

/** Parses a text sub-config (`text_config`, default model_type "llama" as in LlavaConfig). */
export function parseTextConfig(r: ConfigReader, defaultModelType = 'llama'): TextConfig {
  const modelType = r.str('model_type', defaultModelType);
  const d = TEXT_DEFAULTS[modelType];
  if (!d) {
    throw new CheckpointError(`${r.where}: unsupported text model_type "${modelType}"`, {
      hint: `supported text models: ${Object.keys(TEXT_DEFAULTS).join(', ')}`,
    });
  }
  return {
    modelType,
    vocabSize: r.posInt('vocab_size', d.vocab_size),
    hiddenSize: r.posInt('hidden_size', d.hidden_size),
    numHiddenLayers: r.posInt('num_hidden_layers', d.num_hidden_layers),
    rmsNormEps: r.num('rms_norm_eps', d.rms_norm_eps),
    tieWordEmbeddings: r.bool('tie_word_embeddings', d.tie_word_embeddings),
  };
}
