/**
 * The Gemma 3 image path as one ONNX graph: views -> SigLIP (last_hidden_state, post_layernorm applied) ->
 * Gemma3MultiModalProjector. Mirrors transformers 5.12.1 models/gemma3/modeling_gemma3.py
 * (Gemma3Model.get_image_features: vision_tower(pixel_values).last_hidden_state -> multi_modal_projector;
 * Gemma3MultiModalProjector.forward) and models/siglip/modeling_siglip.py (src/graph/siglip.ts):
 *   pixel_values [N, 3, S, S]
 *   SigLIP embeddings + encoder + post_layernorm                   [N, g*g, Hv]   (g = S / patch)
 *   AvgPool2d(k = g / sqrt(mm_tokens_per_image)), raster order      [N, T, Hv]     (src/graph/pool.ts)
 *   mm_soft_emb_norm: Gemma3RMSNorm (1 + w), eps = vision layer_norm_eps  [N, T, Hv]
 *   @ mm_input_projection_weight [Hv, H]: a plain matmul (NOT a Linear: no transpose, no bias, no scaling)
 *                                                                    [N, T, H] = crop_features = image_features rows
 * Nothing rescales them afterwards: the text rows next to them are embed_tokens · float32(sqrt(H)) (the embedding
 * scales itself), the image rows are written as they are.
 */
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { avgPoolGrid } from '../../graph/pool.js';
import { gemmaRmsNorm, type RmsScale } from '../../graph/rmsnorm.js';
import { siglipVisionTower } from '../../graph/siglip.js';
import { loadWeights, planWeights, TensorNaming, type Weights } from '../../graph/weights.js';
import type { TensorInfo, WeightTensor } from '../../source/types.js';
import { FEATURES_OUTPUT, PIXEL_INPUT } from '../types.js';
import type { Gemma3Config } from './config.js';

/**
 * Checkpoint names: 5.12.1 `save_pretrained` writes `vision_tower.*` and `multi_modal_projector.*`; the
 * google/gemma-3-*-it hub files have `vision_tower.vision_model.*` (5.12.1 strips `vision_model.` on load);
 * transformers 4.52-4.57 saves under `model.` (`model.vision_tower.vision_model.*`, `model.multi_modal_projector.*`).
 */
export const GEMMA3_VISION_NAMING = new TensorNaming({
  'vision_tower.': [
    'vision_tower.',
    'vision_tower.vision_model.',
    'model.vision_tower.',
    'model.vision_tower.vision_model.',
  ],
  'multi_modal_projector.': ['multi_modal_projector.', 'model.multi_modal_projector.'],
});

/** ONNX names of the stages, for dumps and stage tests. */
export const GEMMA3_STAGES = {
  lastHiddenState: 'vision.post_layernorm',
  pooled: 'projector.pooled',
  normed: 'projector.mm_soft_emb_norm',
} as const;

export interface Gemma3VisionOptions {
  /** Extra outputs by ONNX name (GEMMA3_STAGES, `vision.layer.i.out`). */
  expose?: readonly string[];
  /** Pitfall switch (tests only): the projector norm's scale convention (default 'onePlus'). */
  normScale?: RmsScale;
}

function build(g: GraphBuilder, w: Weights, cfg: Gemma3Config, opts: Gemma3VisionOptions): Value {
  const v = cfg.vision;
  const S = v.imageSize;
  const Hv = v.hiddenSize;
  const H = cfg.text.hiddenSize;
  const pixels = g.input(PIXEL_INPUT, 'float32', ['views', 3, S, S]); // [N, 3, S, S]
  const tower = siglipVisionTower(g, w.pp('vision_tower'), pixels, v, v.numHiddenLayers, {
    postLayerNorm: true,
  });
  const last = tower.lastHiddenState!; // [N, g*g, Hv]
  const pooled = avgPoolGrid(
    g,
    last,
    { grid: cfg.patchGrid, kernel: cfg.poolKernel, channels: Hv },
    GEMMA3_STAGES.pooled,
  ); // [N, T, Hv]
  const proj = w.pp('multi_modal_projector');
  const normed = gemmaRmsNorm(
    g,
    proj.pp('mm_soft_emb_norm'),
    pooled,
    Hv,
    v.layerNormEps,
    opts.normScale ?? 'onePlus',
    GEMMA3_STAGES.normed,
  ); // [N, T, Hv]
  const weight = proj.get('mm_input_projection_weight', [Hv, H]); // [Hv, H], NOT [out, in]
  return g.matmul(normed, weight, 'projector.image_features'); // [N, T, H]
}

export function gemma3VisionTensorNames(
  cfg: Gemma3Config,
  index: ReadonlyMap<string, TensorInfo>,
  where: string,
): string[] {
  const g = new GraphBuilder({ name: 'gemma3-vision-plan' });
  const { weights, names } = planWeights(g, index, GEMMA3_VISION_NAMING, where);
  build(g, weights, cfg, {});
  return names();
}

export function buildGemma3VisionGraph(
  cfg: Gemma3Config,
  tensors: ReadonlyMap<string, WeightTensor>,
  where: string,
  opts: Gemma3VisionOptions = {},
): Uint8Array {
  const g = new GraphBuilder({ name: 'gemma3-vision' });
  const { weights } = loadWeights(g, tensors, GEMMA3_VISION_NAMING, where);
  const feats = build(g, weights, cfg, opts);
  g.output(feats, FEATURES_OUTPUT, ['views', cfg.mmTokensPerImage, cfg.text.hiddenSize]);
  for (const name of opts.expose ?? []) g.output(g.value(name));
  return g.build();
}
