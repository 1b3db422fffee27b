/**
 * The CLIP vision transformer (CLIPVisionTransformer) as graph blocks, stopping at a requested hidden state.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/clip/modeling_clip.py:
 *   CLIPVisionEmbeddings.forward: patch conv (no bias) -> flatten/transpose -> [CLS; patches] + position_embedding
 *   CLIPVisionTransformer.forward: pre_layrnorm (sic) -> encoder; post_layernorm only touches pooled output,
 *   and LLaVA reads hidden_states, so post_layernorm is never built here.
 * hidden_states[0] is the pre_layrnorm output and hidden_states[i] the output of encoder layer i-1.
 */
import type { VisionTowerConfig } from '../arch/config.js';
import { CheckpointError } from '../errors.js';
import type { GraphBuilder, Value } from './builder.js';
import {
  addPositionEmbedding,
  layerNorm,
  patchEmbedding,
  prependClassToken,
  vitEncoder,
  type EncoderSpec,
} from './blocks.js';
import type { Weights } from './weights.js';

export interface VisionTowerOutput {
  /** hidden_states[0..upTo], each [N, tokens, hidden]. */
  hiddenStates: Value[];
  /** Tokens per crop, CLS included when the tower has one. */
  tokens: number;
  hasCls: boolean;
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

/**
 * pixels [N, channels, S, S] -> hidden_states[0..upTo] of a CLIP vision tower. `w` is at the tower's
 * `vision_model` (e.g. "vision_tower.vision_model"); only embeddings, pre_layrnorm and layers 0..upTo-1 are read.
 */
export function clipVisionTower(
  g: GraphBuilder,
  w: Weights,
  pixels: Value,
  cfg: VisionTowerConfig,
  upTo: number,
  name = 'vision',
): VisionTowerOutput {
  const C = cfg.hiddenSize;
  const grid = cfg.imageSize / cfg.patchSize; // patches per side
  const tokens = 1 + grid * grid; // CLS + patches
  const emb = w.pp('embeddings');
  const spec = { channels: cfg.numChannels, hidden: C, patch: cfg.patchSize, imageSize: cfg.imageSize };
  const patches = patchEmbedding(g, emb.pp('patch_embedding'), pixels, spec, `${name}.embeddings.patches`, {
    bias: false,
  }); // [N, G*G, C]
  const withCls = prependClassToken(g, emb, patches, C, `${name}.embeddings.with_cls`); // [N, T, C]
  const embedded = addPositionEmbedding(g, emb, withCls, tokens, C, `${name}.embeddings`); // [N, T, C]
  const h0 = layerNorm(g, w.pp('pre_layrnorm'), embedded, C, cfg.layerNormEps, `${name}.pre_layrnorm`);
  const hiddenStates = vitEncoder(g, w.pp('encoder'), h0, encoderSpec(cfg), upTo, name); // upTo+1 states
  return { hiddenStates, tokens, hasCls: true };
}
