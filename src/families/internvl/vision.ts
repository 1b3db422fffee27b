/**
 * The InternVL image path as one ONNX graph: tiles -> InternViT -> feature selection -> pixel shuffle ->
 * multi_modal_projector. Mirrors transformers 5.12.1 models/internvl/modeling_internvl.py (InternVLVisionEmbeddings,
 * InternVLVisionLayer, InternVLVisionModel, InternVLModel.get_image_features / pixel_shuffle,
 * InternVLMultiModalProjector), composed from the shared blocks of src/graph/blocks.ts:
 *   pixel_values [n, 3, T, T]
 *   patch conv (bias) -> [CLS; patches] + position_embeddings (no interpolation: tiles are the config size)
 *                                                                                     [n, 1+g*g, D] = hidden_states[0]
 *   layers: h = x + λ1 · projection_layer(attn(N1 x)),  out = h + λ2 · fc2(act(fc1(N2 h)))
 *     N = LayerNorm or RMSNorm (norm_type), eps layer_norm_eps; use_qk_norm: RMSNorm(q), RMSNorm(k) over the whole
 *     width before the head split, eps 1e-6; eager attention scales q·kᵀ by head_dim^-0.5
 *   last_hidden_state = layernorm(last layer) (Identity when use_mean_pooling, the released checkpoints)
 *   vision_feature_layer -1: last_hidden_state; else hidden_states[i] (raw)
 *   strategy 'default': drop CLS                                                      [n, g*g, D]
 *   pixel shuffle, s = 1 / downsample_ratio: token (R, C) = concat over dr (outer), dc (inner) of patch
 *     (s R + dr, s C + dc) (the same order as Idefics3's; README-pixelshuffle.md)     [n, (g/s)^2, s² D]
 *   projector: LayerNorm(s² D, eps 1e-5) -> linear_1 -> act -> linear_2               [n, T, H] = crop_features
 */
import { CheckpointError } from '../../errors.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import {
  attention,
  layerNorm,
  layerScale,
  llavaProjector,
  mlp,
  norm,
  patchEmbedding,
  pixelShuffle,
  prependToken,
  selectFeatures,
  type EncoderSpec,
} from '../../graph/blocks.js';
import { hiddenStateIndex } from '../../graph/vision-tower.js';
import { loadWeights, planWeights, TensorNaming, type Weights } from '../../graph/weights.js';
import type { TensorInfo, WeightTensor } from '../../source/types.js';
import { PROJECTOR_LN_EPS, QK_NORM_EPS, type InternVLConfig } from './config.js';

/**
 * Checkpoint names: 5.12.1 `save_pretrained` writes the legacy `vision_tower.*`, `multi_modal_projector.*`
 * (the conversion mapping reversed); checkpoints saved with the in-memory names have `model.vision_tower.*`,
 * `model.multi_modal_projector.*`. Both are accepted.
 */
export const INTERNVL_NAMING = new TensorNaming({
  'vision_tower.': ['vision_tower.', 'model.vision_tower.'],
  'multi_modal_projector.': ['multi_modal_projector.', 'model.multi_modal_projector.'],
});

export interface InternVLVisionOptions {
  /** Expose every stage as a graph output (tests): patch embeds, hidden states, selection, shuffle, projector. */
  stages?: boolean;
  /** Pitfall switches (tests only): keep the CLS token, transpose the shuffle order, the projector LayerNorm eps. */
  keepCls?: boolean;
  shuffleOrder?: 'dr-dc' | 'dc-dr';
  projectorEps?: number;
}

/** Graph names of the stages exposed with `stages: true`. */
export const STAGES = {
  patchEmbeds: 'vision_patch_embeds',
  hiddenState: (i: number) => `vision.hidden_states.${i}`,
  lastHiddenState: 'vision_last_hidden_state',
  selected: 'vision_selected',
  pixelShuffle: 'pixel_shuffle',
  projectorLayerNorm: 'projector_layer_norm',
  projectorLinear1: 'projector_linear_1',
};

/** One InternVLVisionLayer. `w` at `encoder.layer.{i}`; x [n, 1+P, D] -> [n, 1+P, D]. */
function internVisionLayer(
  g: GraphBuilder,
  w: Weights,
  x: Value,
  cfg: InternVLConfig,
  spec: EncoderSpec,
  name: string,
): Value {
  const v = cfg.vision;
  const D = v.hiddenSize;
  const n1 = norm(g, w.pp('layernorm_before'), x, D, v.layerNormEps, v.normType, `${name}.norm1`);
  const attn = attention(g, w.pp('attention'), n1, spec, `${name}.attn`, {
    names: { q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'projection_layer' },
    qkvBias: v.attentionBias,
    qkNormEps: v.useQkNorm ? QK_NORM_EPS : undefined,
    scale: 'scores',
  }); // [n, 1+P, D]
  const h = g.add(x, layerScale(g, w, attn, 'lambda_1', D, `${name}.ls1`), `${name}.attn_residual`);
  const n2 = norm(g, w.pp('layernorm_after'), h, D, v.layerNormEps, v.normType, `${name}.norm2`);
  const m = mlp(g, w.pp('mlp'), n2, spec, `${name}.mlp`); // [n, 1+P, D]
  return g.add(h, layerScale(g, w, m, 'lambda_2', D, `${name}.ls2`), `${name}.out`); // [n, 1+P, D]
}

function build(g: GraphBuilder, w: Weights, cfg: InternVLConfig, opts: InternVLVisionOptions): Value {
  const v = cfg.vision;
  const T = v.imageSize;
  const D = v.hiddenSize;
  const P = cfg.patchGrid * cfg.patchGrid;
  const s = cfg.scaleFactor;
  const H = cfg.text.hiddenSize;
  const spec: EncoderSpec = {
    hidden: D,
    heads: v.numAttentionHeads,
    intermediate: v.intermediateSize,
    act: v.hiddenAct,
    eps: v.layerNormEps,
  };
  const tower = w.pp('vision_tower');
  const emb = tower.pp('embeddings');
  const pixels = g.input('pixel_values', 'float32', ['tiles', 3, T, T]); // [n, 3, T, T]
  const patchSpec = { channels: v.numChannels, hidden: D, patch: v.patchSize, imageSize: T };
  const patches = patchEmbedding(
    g,
    emb.pp('patch_embeddings.projection'),
    pixels,
    patchSpec,
    STAGES.patchEmbeds,
    { bias: true },
  ); // [n, P, D]
  const withCls = prependToken(g, emb.get('cls_token', [1, 1, D]), patches, D, 'vision.embeddings.with_cls');
  const pos = emb.get('position_embeddings', [1, 1 + P, D]); // [1, 1+P, D]
  const h0 = g.add(withCls, pos, 'vision.embeddings'); // [n, 1+P, D]
  // hidden_states[0..upTo]; later layers are never built (their weights never read).
  const useLast = cfg.visionFeatureLayer === -1;
  const upTo = useLast ? v.numHiddenLayers : hiddenStateIndex(cfg.visionFeatureLayer, v.numHiddenLayers);
  const states = [h0];
  for (let i = 0; i < upTo; i++) {
    states.push(
      internVisionLayer(g, tower.pp(`encoder.layer.${i}`), states[i], cfg, spec, `vision.layer.${i}`),
    );
  }
  // InternVLVisionModel.layernorm: Identity with use_mean_pooling, else LayerNorm (always LayerNorm, with bias).
  const last = useLast
    ? v.useMeanPooling
      ? states[upTo]
      : layerNorm(g, tower.pp('layernorm'), states[upTo], D, v.layerNormEps, 'vision.layernorm')
    : states[upTo]; // [n, 1+P, D]
  const selected = opts.keepCls
    ? g.slice(last, [0], [P], [1], undefined, STAGES.selected) // wrong on purpose: CLS kept, last patch dropped
    : selectFeatures(g, last, 'default', STAGES.selected); // [n, P, D]
  const shuffled = pixelShuffle(g, selected, cfg.patchGrid, s, D, STAGES.pixelShuffle, opts.shuffleOrder);
  const proj = w.pp('multi_modal_projector');
  const ln = layerNorm(
    g,
    proj.pp('layer_norm'),
    shuffled,
    s * s * D,
    opts.projectorEps ?? PROJECTOR_LN_EPS,
    STAGES.projectorLayerNorm,
  ); // [n, T, s² D]
  const out = llavaProjector(
    g,
    proj,
    ln,
    { visionHidden: s * s * D, textHidden: H, act: cfg.projectorHiddenAct },
    'multi_modal_projector',
  ); // [n, T, H]
  if (opts.stages) {
    g.output(patches, STAGES.patchEmbeds);
    states.forEach((st, i) => g.output(st, STAGES.hiddenState(i)));
    g.output(last, STAGES.lastHiddenState);
    g.output(selected, STAGES.selected);
    g.output(shuffled, STAGES.pixelShuffle);
    g.output(ln, STAGES.projectorLayerNorm);
    g.output(g.value('multi_modal_projector.linear_1'), STAGES.projectorLinear1);
  }
  return out;
}

export function internvlVisionTensorNames(
  cfg: InternVLConfig,
  index: ReadonlyMap<string, TensorInfo>,
  where: string,
): string[] {
  const g = new GraphBuilder({ name: 'internvl-vision-plan' });
  const { weights, names } = planWeights(g, index, INTERNVL_NAMING, where);
  build(g, weights, cfg, {});
  return names();
}

export function buildInternVLVisionGraph(
  cfg: InternVLConfig,
  tensors: ReadonlyMap<string, WeightTensor>,
  where: string,
  opts: InternVLVisionOptions = {},
): Uint8Array {
  if (cfg.patchGrid % cfg.scaleFactor !== 0) {
    throw new CheckpointError(
      `${where}: pixel shuffle factor ${cfg.scaleFactor} does not divide ${cfg.patchGrid}`,
    );
  }
  const g = new GraphBuilder({ name: 'internvl-vision' });
  const { weights } = loadWeights(g, tensors, INTERNVL_NAMING, where);
  g.output(build(g, weights, cfg, opts), 'crop_features');
  return g.build();
}
