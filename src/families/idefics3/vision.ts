/**
 * The Idefics3 / SmolVLM image path as one ONNX graph: tiles -> SigLIP-style tower (NaViT position ids) ->
 * post_layernorm -> pixel shuffle -> connector. Mirrors transformers 5.12.1 models/idefics3/modeling_idefics3.py
 * (Idefics3VisionEmbeddings, Idefics3VisionTransformer, Idefics3Connector.pixel_shuffle, Idefics3SimpleMLP;
 * SmolVLM's modeling_smolvlm.py is the same code):
 *   pixel_values [1, n, 3, M, M] -> tiles [n, 3, M, M]
 *   patch conv (bias) + position_embedding[position_ids]      [n, g*g, D]
 *   encoder layers (pre-LN, gelu_pytorch_tanh, full attention) then post_layernorm (USED: last_hidden_state)
 *   pixel shuffle, factor s:  token (R, C) of the (g/s) x (g/s) grid = concat over dr (outer), dc (inner) of
 *     patch (s R + dr, s C + dc); channel (dr s + dc) D + d                    [n, (g/s)^2, s^2 D]
 *   modality_projection.proj: Linear(s^2 D -> H, no bias)                        [n, T, H] = crop_features
 * Tiles are all full (one image per prompt, no padding tiles), so the patch attention mask is all ones and no
 * attention mask is built.
 */
import { CheckpointError } from '../../errors.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { linear, pixelShuffle } from '../../graph/blocks.js';
import { siglipVisionTower } from '../../graph/siglip.js';
import { loadWeights, planWeights, TensorNaming, type Weights } from '../../graph/weights.js';
import type { TensorInfo, WeightTensor } from '../../source/types.js';
import type { Idefics3Config } from './config.js';

/** Checkpoint names: `model.vision_model.*`, `model.connector.*` (transformers >= 4.46 and 5.x save the same). */
export const IDEFICS3_NAMING = new TensorNaming({
  'vision_model.': ['model.vision_model.'],
  'connector.': ['model.connector.'],
});

/**
 * Idefics3VisionEmbeddings position ids for a full n x n tile (transformers 5.12.1): per axis
 * bucketize(float32(i) * float32(1/n), arange(1/n, 1, 1/n) in float32, right=True), then row * n + col.
 * The identity for most n (every n <= 18, 26, 27, 32) but not all (n = 25: 0,1,2,3,4,4,6,...); torch's arange
 * is mirrored by its scalar rule (start + j * step in double, rounded to float32).
 */
export function idefics3PositionIds(n: number): number[] {
  const step = 1 / n;
  const stepF = Math.fround(step);
  const count = Math.ceil((1 - step) / step);
  const bounds: number[] = [];
  for (let j = 0; j < count; j++) bounds.push(Math.fround(step + j * step));
  const bucket = (i: number): number => {
    const f = Math.fround(i * stepF);
    let k = 0;
    while (k < bounds.length && bounds[k] <= f) k++; // right=True: boundaries[k-1] <= f < boundaries[k]
    return k;
  };
  const axis = Array.from({ length: n }, (_, i) => bucket(i));
  const ids: number[] = [];
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) ids.push(axis[r] * n + axis[c]);
  return ids;
}

export interface Idefics3VisionOptions {
  /** Expose every stage as a graph output (tests): patch embeds, hidden states, post-LN, shuffle. */
  stages?: boolean;
  /** Pitfall switches (tests only): skip post_layernorm, transpose the shuffle order. */
  skipPostLayerNorm?: boolean;
  shuffleOrder?: 'dr-dc' | 'dc-dr';
}

/** Graph names of the stages exposed with `stages: true`. */
export const STAGES = {
  patchEmbeds: 'vision.embeddings.patches',
  hiddenState: (i: number) => `vision.hidden_states.${i}`,
  lastHiddenState: 'vision.post_layernorm',
  pixelShuffle: 'connector.pixel_shuffle',
};

function build(g: GraphBuilder, w: Weights, cfg: Idefics3Config, opts: Idefics3VisionOptions): Value {
  const v = cfg.vision;
  const M = v.imageSize;
  const D = v.hiddenSize;
  const s = cfg.scaleFactor;
  const H = cfg.text.hiddenSize;
  const input = g.input('pixel_values', 'float32', [1, 'tiles', 3, M, M]); // [1, n, 3, M, M]
  const tiles = g.reshape(input, [-1, 3, M, M], 'vision.tiles'); // [n, 3, M, M]
  const tower = siglipVisionTower(g, w.pp('vision_model'), tiles, v, v.numHiddenLayers, {
    postLayerNorm: !opts.skipPostLayerNorm,
    positionIds: idefics3PositionIds(cfg.patchGrid),
  });
  const last = tower.lastHiddenState ?? tower.hiddenStates[v.numHiddenLayers]; // [n, g*g, D]
  const shuffled = pixelShuffle(g, last, cfg.patchGrid, s, D, STAGES.pixelShuffle, opts.shuffleOrder); // [n, T, s*s*D]
  const proj = linear(
    g,
    w.pp('connector.modality_projection.proj'),
    shuffled,
    s * s * D,
    H,
    'connector.proj',
    {
      bias: false,
    },
  ); // [n, T, H]
  if (opts.stages) {
    g.output(g.value(`vision.embeddings.patches`), 'vision_patch_embeds');
    tower.hiddenStates.forEach((h, i) => g.output(h, STAGES.hiddenState(i)));
    if (tower.lastHiddenState) g.output(tower.lastHiddenState, 'vision_last_hidden_state');
    g.output(shuffled, 'pixel_shuffle');
  }
  return proj;
}

export function idefics3VisionTensorNames(
  cfg: Idefics3Config,
  index: ReadonlyMap<string, TensorInfo>,
  where: string,
): string[] {
  const g = new GraphBuilder({ name: 'idefics3-vision-plan' });
  const { weights, names } = planWeights(g, index, IDEFICS3_NAMING, where);
  build(g, weights, cfg, {});
  return names();
}

export function buildIdefics3VisionGraph(
  cfg: Idefics3Config,
  tensors: ReadonlyMap<string, WeightTensor>,
  where: string,
  opts: Idefics3VisionOptions = {},
): Uint8Array {
  if (cfg.patchGrid % cfg.scaleFactor !== 0) {
    throw new CheckpointError(`${where}: scale_factor ${cfg.scaleFactor} does not divide ${cfg.patchGrid}`);
  }
  const g = new GraphBuilder({ name: 'idefics3-vision' });
  const { weights } = loadWeights(g, tensors, IDEFICS3_NAMING, where);
  g.output(build(g, weights, cfg, opts), 'crop_features');
  return g.build();
}
