/**
 * The CLIP vision transformer (CLIPVisionTransformer) as graph blocks, stopping at a requested hidden state.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/clip/modeling_clip.py:
 *   CLIPVisionEmbeddings.forward: patch conv (no bias) -> flatten/transpose -> [CLS; patches] + position_embedding
 *   CLIPVisionTransformer.forward: pre_layrnorm (sic) -> encoder; post_layernorm only touches pooled output,
 *   and LLaVA reads hidden_states, so post_layernorm is never built here.
 * hidden_states[0] is the pre_layrnorm output and hidden_states[i] the output of encoder layer i-1.
 */
import type { GraphBuilder, Value } from './builder.js';
import { addPositionEmbedding, layerNorm, patchEmbedding, prependClassToken, vitEncoder } from './blocks.js';
import {
  encoderSpec,
  type VisionTowerConfig,
  type VisionTowerDef,
  type VisionTowerDefaults,
  type VisionTowerOutput,
} from './vision-tower.js';
import type { Weights } from './weights.js';

/** CLIPVisionConfig defaults (configuration_clip.py, CLIPVisionConfig.__init__). */
export const CLIP_VISION_DEFAULTS: VisionTowerDefaults = {
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

export const CLIP_TOWER: VisionTowerDef = {
  modelType: 'clip_vision_model',
  configClass: 'CLIPVisionConfig',
  defaults: CLIP_VISION_DEFAULTS,
  hasCls: true,
  build: (g, w, pixels, cfg, upTo, name) => clipVisionTower(g, w, pixels, cfg, upTo, name),
};
