/**
 * The SigLIP vision transformer (SiglipVisionTransformer) as graph blocks, stopping at a requested hidden state.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/siglip/modeling_siglip.py:
 *   SiglipVisionEmbeddings.forward: patch conv WITH bias -> flatten/transpose -> + position_embedding
 *     (no class token, no interpolation: interpolate_pos_encoding is False on the LLaVA / PaliGemma paths)
 *   SiglipVisionTransformer.forward: embeddings -> encoder (no pre-LN) -> post_layernorm = last_hidden_state;
 *     the attention-pooling `head` (built when vision_use_head is absent or true) only feeds pooler_output and is
 *     never read here.
 *   SiglipEncoderLayer: the same pre-LN layer as CLIP's (hidden_act gelu_pytorch_tanh by default).
 * hidden_states[0] is the embeddings output and hidden_states[i] the output of encoder layer i-1; post_layernorm is
 * built only when asked for (PaliGemma reads last_hidden_state; LLaVA / OneVision read hidden_states without it).
 */
import { CheckpointError } from '../errors.js';
import type { GraphBuilder, Value } from './builder.js';
import { addPositionEmbedding, layerNorm, patchEmbedding, vitEncoder } from './blocks.js';
import {
  encoderSpec,
  type VisionTowerConfig,
  type VisionTowerDef,
  type VisionTowerDefaults,
  type VisionTowerOutput,
} from './vision-tower.js';
import type { Weights } from './weights.js';

/** SiglipVisionConfig defaults (configuration_siglip.py, SiglipVisionConfig.__init__). */
export const SIGLIP_VISION_DEFAULTS: VisionTowerDefaults = {
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

export interface SiglipTowerOutput extends VisionTowerOutput {
  /** post_layernorm(hidden_states[last]) = last_hidden_state, when requested (only valid with upTo = all layers). */
  lastHiddenState: Value | null;
}

/**
 * pixels [N, channels, S, S] -> hidden_states[0..upTo] of a SigLIP vision tower, plus post_layernorm of the last
 * one when `postLayerNorm` (which needs upTo = num_hidden_layers, as last_hidden_state is the final layer's).
 * `w` is at the tower's `vision_model` (e.g. "vision_tower.vision_model"); only the embeddings, layers
 * 0..upTo-1 and (if asked) post_layernorm are read: never the pooling head.
 */
export function siglipVisionTower(
  g: GraphBuilder,
  w: Weights,
  pixels: Value,
  cfg: VisionTowerConfig,
  upTo: number,
  opts: {
    postLayerNorm?: boolean;
    name?: string;
    /** Position-embedding row per patch (Idefics3's NaViT-style ids); absent: 0..T-1. */
    positionIds?: readonly number[];
  } = {},
): SiglipTowerOutput {
  const name = opts.name ?? 'vision';
  const C = cfg.hiddenSize;
  const grid = cfg.imageSize / cfg.patchSize; // patches per side
  const tokens = grid * grid; // no CLS
  const emb = w.pp('embeddings');
  const spec = { channels: cfg.numChannels, hidden: C, patch: cfg.patchSize, imageSize: cfg.imageSize };
  const patches = patchEmbedding(g, emb.pp('patch_embedding'), pixels, spec, `${name}.embeddings.patches`, {
    bias: true,
  }); // [N, G*G, C]
  const ids = opts.positionIds;
  const identity = !ids || ids.every((v, i) => v === i);
  if (ids && ids.length !== tokens) {
    throw new CheckpointError(`SigLIP position ids: ${ids.length} for ${tokens} patches`);
  }
  const embedded = identity
    ? addPositionEmbedding(g, emb, patches, tokens, C, `${name}.embeddings`) // [N, T, C]
    : g.add(
        patches,
        g.gather(
          emb.get('position_embedding.weight', [tokens, C]),
          g.constInt64(ids, [tokens]),
          0,
          `${name}.embeddings.positions`,
        ), // [T, C]
        `${name}.embeddings`,
      ); // [N, T, C]
  const hiddenStates = vitEncoder(g, w.pp('encoder'), embedded, encoderSpec(cfg), upTo, name); // upTo+1 states
  let lastHiddenState: Value | null = null;
  if (opts.postLayerNorm) {
    if (upTo !== cfg.numHiddenLayers) {
      throw new CheckpointError(
        `SigLIP last_hidden_state is post_layernorm of layer ${cfg.numHiddenLayers}, not of hidden_states[${upTo}]`,
      );
    }
    lastHiddenState = layerNorm(
      g,
      w.pp('post_layernorm'),
      hiddenStates[upTo],
      C,
      cfg.layerNormEps,
      `${name}.post_layernorm`,
    ); // [N, T, C]
  }
  return { hiddenStates, tokens, hasCls: false, lastHiddenState };
}

export const SIGLIP_TOWER: VisionTowerDef = {
  modelType: 'siglip_vision_model',
  configClass: 'SiglipVisionConfig',
  defaults: SIGLIP_VISION_DEFAULTS,
  hasCls: false,
  build: (g, w, pixels, cfg, upTo, name) => siglipVisionTower(g, w, pixels, cfg, upTo, { name }),
};
