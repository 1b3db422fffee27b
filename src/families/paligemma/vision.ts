/**
 * PaliGemma's image path as one ONNX graph: pixel_values [crops, 3, S, S] -> SigLIP last_hidden_state (post_layernorm)
 * -> multi_modal_projector.linear -> / sqrt(config.hidden_size) -> * float32(sqrt(text hidden)) = Gemma's layer-0 input
 * rows (crop_features). Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357)
 * models/paligemma/modeling_paligemma.py and models/gemma/modeling_gemma.py (see ./index.ts).
 */
import { linear } from '../../graph/blocks.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { siglipVisionTower } from '../../graph/siglip.js';
import { LLAVA_NAMING, loadWeights, planWeights, type Weights } from '../../graph/weights.js';
import type { TensorInfo, WeightTensor } from '../../source/types.js';
import { f32Sqrt } from '../../text/models.js';
import { FEATURES_OUTPUT, PIXEL_INPUT } from '../types.js';
import type { PaliGemmaConfig } from './config.js';

/** ONNX names of the stages after the tower, for dumps and golden tests. */
export const PALIGEMMA_STAGES = {
  /** SigLIP last_hidden_state = post_layernorm(hidden_states[-1]), [N, T, Cv]. */
  selected: 'vision.post_layernorm',
  /** multi_modal_projector output, [N, T, P]. */
  projector: 'projector',
  /** projector / sqrt(config.hidden_size): the rows scattered into inputs_embeds, [N, T, H]. */
  imageFeatures: 'paligemma.image_features',
  /** image_features * normalizer: Gemma's hidden_states[0] at the image rows (= crop_features), [N, T, H]. */
  layer0: 'gemma.hidden_states_0',
} as const;

/** pixel_values [crops, 3, S, S] -> Gemma's layer-0 input rows [crops, (S/p)^2, text hidden]; returns its token count. */
function compose(
  g: GraphBuilder,
  w: Weights,
  cfg: PaliGemmaConfig,
  expose: readonly string[] = [],
): { tokens: number; debug: string[] } {
  const v = cfg.vision;
  const H = cfg.text.hiddenSize;
  const pixels = g.input(PIXEL_INPUT, 'float32', ['crops', v.numChannels, v.imageSize, v.imageSize]); // [N, 3, S, S]
  const tower = siglipVisionTower(g, w.pp('vision_tower.vision_model'), pixels, v, v.numHiddenLayers, {
    postLayerNorm: true,
  });
  const selected = tower.lastHiddenState!; // [N, T, Cv]
  // PaliGemmaMultiModalProjector: nn.Linear(vision hidden, projection_dim, bias=True), no activation.
  const projected = linear(
    g,
    w.pp('multi_modal_projector.linear'),
    selected,
    v.hiddenSize,
    cfg.projectionDim,
    PALIGEMMA_STAGES.projector,
  ); // [N, T, P]
  // 4.45: image_features / (self.config.hidden_size ** 0.5), the TOP-LEVEL hidden_size, float32 division.
  const feats = g.div(projected, f32Sqrt(cfg.hiddenSize), PALIGEMMA_STAGES.imageFeatures); // [N, T, H]
  // GemmaModel: hidden_states = inputs_embeds * normalizer, normalizer = float32(sqrt(text hidden)).
  const layer0 = g.mul(feats, f32Sqrt(H), PALIGEMMA_STAGES.layer0); // [N, T, H]
  g.output(layer0, FEATURES_OUTPUT, ['crops', tower.tokens, H]);
  const debug: string[] = [];
  for (const name of expose) {
    const val: Value = g.value(name);
    g.output(val);
    debug.push(name);
  }
  return { tokens: tower.tokens, debug };
}

/** The checkpoint tensors the image path needs (never the SigLIP head), checked against `index`. */
export function paliGemmaVisionTensorNames(
  cfg: PaliGemmaConfig,
  index: ReadonlyMap<string, TensorInfo>,
  where = 'checkpoint',
): string[] {
  const g = new GraphBuilder({ name: 'plan' });
  const plan = planWeights(g, index, LLAVA_NAMING, where);
  compose(g, plan.weights, cfg);
  return plan.names();
}

/** Builds the image-path graph; `expose` adds intermediates (ONNX names, e.g. PALIGEMMA_STAGES) as outputs. */
export function buildPaliGemmaVisionGraph(
  cfg: PaliGemmaConfig,
  tensors: ReadonlyMap<string, WeightTensor>,
  opts: { expose?: readonly string[]; where?: string } = {},
): { model: Uint8Array; tokensPerCrop: number; debugOutputs: string[] } {
  const g = new GraphBuilder({ name: 'paligemma_vision' });
  const load = loadWeights(g, tensors, LLAVA_NAMING, opts.where ?? 'checkpoint');
  const { tokens, debug } = compose(g, load.weights, cfg, opts.expose);
  return { model: g.build(), tokensPerCrop: tokens, debugOutputs: debug };
}
