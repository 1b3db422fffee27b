/**
 * The LLaVA / LLaVA-NeXT image path as one ONNX graph:
 *   pixel_values [crops, 3, S, S] -> vision tower up to hidden_states[vision_feature_layer]
 *     -> feature selection ('default' drops CLS, 'full' keeps it first) -> multi_modal_projector
 *     -> crop_features [crops, tokens, text_hidden]
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/llava/modeling_llava.py
 * (LlavaForConditionalGeneration.forward: image_outputs.hidden_states[vision_feature_layer], then the strategy,
 * then multi_modal_projector) and models/llava_next/modeling_llava_next.py (the same per crop, before packing;
 * packing and image_newline are done outside the graph).
 *
 * Usage: `llavaVisionTensorNames(spec, await source.tensorIndex())` lists the tensors to read (checked against
 * the index, nothing read), then `buildLlavaVisionGraph(spec, await source.readTensors(names))` builds the model.
 */
import { llavaProjector, selectFeatures, type FeatureStrategy } from '../../graph/blocks.js';
import { GraphBuilder } from '../../graph/builder.js';
import type { Dim } from '../../graph/onnx.js';
import { visionTowerDef } from '../../graph/towers.js';
import { hiddenStateIndex, type VisionTowerConfig } from '../../graph/vision-tower.js';
import {
  LLAVA_NAMING,
  loadWeights,
  planWeights,
  type TensorNaming,
  type Weights,
} from '../../graph/weights.js';
import type { TensorInfo, WeightTensor } from '../../source/types.js';
import { FEATURES_OUTPUT, PIXEL_INPUT } from '../types.js';

export interface LlavaVisionSpec {
  tower: VisionTowerConfig;
  /** HF vision_feature_layer: an index into hidden_states, negative counts from the end. */
  featureLayer: number;
  /** vision_feature_select_strategy. */
  strategy: FeatureStrategy;
  /** LlavaMultiModalProjector: projector_hidden_act and the text model's hidden size. */
  projector: { act: string; textHidden: number };
  /** Tensor naming; defaults to LLAVA_NAMING (legacy and `model.`-prefixed). */
  naming?: TensorNaming;
}

export interface VisionGraphOptions {
  /** Also output every computed hidden state as `vision.hidden_states.{i}` and the selection as `vision.selected`. */
  exposeHiddenStates?: boolean;
  /** Also output these intermediates by ONNX name (e.g. 'vision.layer.0.attn.probs'). */
  expose?: readonly string[];
  /** For messages: the model source (directory or repo id). */
  where?: string;
}

export interface VisionGraph {
  /** ONNX model bytes for Session.create. */
  model: Uint8Array;
  /** pixel_values [crops, channels, S, S]. */
  inputShape: Dim[];
  /** Rows of crop_features per crop (CLS included for 'full'). */
  tokensPerCrop: number;
  textHidden: number;
  /** Extra output names, in order (hidden states first). */
  debugOutputs: string[];
  /** Checkpoint tensors the graph holds. */
  tensorNames: string[];
}

const hiddenStateName = (i: number): string => `vision.hidden_states.${i}`;

/** Builds the whole image path into `g` with weights from `w`; returns the debug output names. */
function compose(
  g: GraphBuilder,
  w: Weights,
  spec: LlavaVisionSpec,
  opts: VisionGraphOptions,
): { tokens: number; debug: string[] } {
  const t = spec.tower;
  const upTo = hiddenStateIndex(spec.featureLayer, t.numHiddenLayers);
  const pixels = g.input(PIXEL_INPUT, 'float32', ['crops', t.numChannels, t.imageSize, t.imageSize]); // [N, 3, S, S]
  // The registered tower by vision_config.model_type; LLaVA reads hidden_states, so no post_layernorm is built.
  const tower = visionTowerDef(t.modelType, 'vision_config').build(
    g,
    w.pp('vision_tower.vision_model'),
    pixels,
    t,
    upTo,
    'vision',
  );
  const selected = selectFeatures(g, tower.hiddenStates[upTo], spec.strategy, 'vision.selected'); // [N, T', Cv]
  // 'default' drops row 0 whatever it is (4.45 slices [:, 1:] also for a SigLIP tower, which has no CLS).
  const tokens = spec.strategy === 'full' ? tower.tokens : tower.tokens - 1;
  const features = llavaProjector(
    g,
    w.pp('multi_modal_projector'),
    selected,
    { visionHidden: t.hiddenSize, textHidden: spec.projector.textHidden, act: spec.projector.act },
    'projector',
  ); // [N, T', Ct]
  g.output(features, FEATURES_OUTPUT, ['crops', tokens, spec.projector.textHidden]);
  const debug: string[] = [];
  if (opts.exposeHiddenStates) {
    tower.hiddenStates.forEach((h, i) => {
      g.output(h, hiddenStateName(i), ['crops', tower.tokens, t.hiddenSize]);
      debug.push(hiddenStateName(i));
    });
    g.output(selected);
    debug.push(selected.name);
  }
  for (const name of opts.expose ?? []) {
    if (debug.includes(name)) continue;
    g.output(g.value(name));
    debug.push(name);
  }
  return { tokens, debug };
}

/**
 * The checkpoint tensors the LLaVA image path needs, checked for presence and shape against `index`
 * (MissingTensorError otherwise). Only layers up to the selected one are listed; never post_layernorm.
 */
export function llavaVisionTensorNames(
  spec: LlavaVisionSpec,
  index: ReadonlyMap<string, TensorInfo>,
  where = 'checkpoint',
): string[] {
  const g = new GraphBuilder({ name: 'plan' });
  const plan = planWeights(g, index, spec.naming ?? LLAVA_NAMING, where);
  compose(g, plan.weights, spec, {});
  return plan.names();
}

/** Builds the image-path graph from the tensors read for `llavaVisionTensorNames`. */
export function buildLlavaVisionGraph(
  spec: LlavaVisionSpec,
  tensors: ReadonlyMap<string, WeightTensor>,
  opts: VisionGraphOptions = {},
): VisionGraph {
  const g = new GraphBuilder({ name: 'llava_vision' });
  const load = loadWeights(g, tensors, spec.naming ?? LLAVA_NAMING, opts.where ?? 'checkpoint');
  const { tokens, debug } = compose(g, load.weights, spec, opts);
  const t = spec.tower;
  return {
    model: g.build(),
    inputShape: ['crops', t.numChannels, t.imageSize, t.imageSize],
    tokensPerCrop: tokens,
    textHidden: spec.projector.textHidden,
    debugOutputs: debug,
    tensorNames: load.names(),
  };
}
