/**
 * What a ViT-style vision tower is to the rest of the code: its typed config (one shape for every tower), the
 * HF class defaults it is parsed with, and a builder that stops at a requested hidden state. Each tower module
 * (clip.ts, siglip.ts) exports one VisionTowerDef; src/graph/towers.ts registers them by `model_type`.
 * hidden_states follow transformers' convention: [0] is the embeddings (after CLIP's pre_layrnorm), [i] the output
 * of encoder layer i-1, and a negative vision_feature_layer counts from the end.
 */
import { CheckpointError } from '../errors.js';
import type { EncoderSpec } from './blocks.js';
import type { GraphBuilder, Value } from './builder.js';
import type { Weights } from './weights.js';

export interface VisionTowerConfig {
  /** The registered tower, e.g. clip_vision_model | siglip_vision_model. */
  modelType: string;
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

/** A vision config class's __init__ defaults, in config.json's field names. */
export interface VisionTowerDefaults {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_channels: number;
  image_size: number;
  patch_size: number;
  hidden_act: string;
  layer_norm_eps: number;
}

export interface VisionTowerOutput {
  /** hidden_states[0..upTo], each [N, tokens, hidden]. */
  hiddenStates: Value[];
  /** Tokens per crop, CLS included when the tower has one. */
  tokens: number;
  hasCls: boolean;
}

export interface VisionTowerDef {
  modelType: string;
  /** The HF config class whose defaults apply, for messages and citations. */
  configClass: string;
  defaults: VisionTowerDefaults;
  /** Whether the sequence starts with a class token (CLIP) or is patches only (SigLIP). */
  hasCls: boolean;
  /**
   * pixels [N, channels, S, S] -> hidden_states[0..upTo]; `w` is at the tower's `vision_model`. Nothing after
   * hidden_states[upTo] is built (no post_layernorm: LLaVA-style families read hidden_states).
   */
  build(
    g: GraphBuilder,
    w: Weights,
    pixels: Value,
    cfg: VisionTowerConfig,
    upTo: number,
    name?: string,
  ): VisionTowerOutput;
}

/**
 * HF hidden_states index for a vision_feature_layer: negative values count from the end
 * (-1 = last layer's output), so with L layers the valid range is [-(L+1), L].
 */
export function hiddenStateIndex(featureLayer: number, numLayers: number): number {
  const idx = featureLayer < 0 ? numLayers + 1 + featureLayer : featureLayer;
  if (!Number.isInteger(featureLayer) || idx < 0 || idx > numLayers) {
    throw new CheckpointError(
      `vision_feature_layer ${featureLayer} is out of range for a ${numLayers}-layer vision tower`,
      { hint: `use an integer in [${-(numLayers + 1)}, ${numLayers}] (-2 = penultimate layer, as LLaVA)` },
    );
  }
  return idx;
}

export function encoderSpec(cfg: VisionTowerConfig): EncoderSpec {
  return {
    hidden: cfg.hiddenSize,
    heads: cfg.numAttentionHeads,
    intermediate: cfg.intermediateSize,
    act: cfg.hiddenAct,
    eps: cfg.layerNormEps,
  };
}
