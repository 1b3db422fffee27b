/**
 * PaliGemma (`model_type: paligemma`): a SigLIP tower read to its last_hidden_state (post_layernorm applied), one
 * linear projector, the image features divided by sqrt(hidden_size), placed FIRST in the prompt; the Gemma LLM then
 * multiplies every input embedding by sqrt(text hidden) before layer 0 and uses (1 + w) RMSNorm and a tied lm_head.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357):
 *   models/paligemma/configuration_paligemma.py (PaliGemmaConfig defaults),
 *   models/paligemma/modeling_paligemma.py (PaliGemmaMultiModalProjector; PaliGemmaForConditionalGeneration.forward:
 *     last_hidden_state -> multi_modal_projector -> / (self.config.hidden_size ** 0.5)),
 *   models/gemma/modeling_gemma.py (GemmaModel.forward: hidden_states = inputs_embeds * normalizer,
 *     normalizer = torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype); GemmaRMSNorm: x/rms * (1 + w)),
 *   models/siglip/image_processing_siglip.py (SiglipImageProcessor).
 *
 * Which space the lens works in (docs/families.md): the vision graph ends at Gemma's hidden_states[0] rows for the
 * image, image_features * float32(sqrt(text hidden)), which is what decoder layer 0 receives; the embedding
 * measures compare them with embed_tokens * the same normalizer (TextSpec.embedScale: what layer 0 receives for a
 * text token), and the logit lens applies GemmaRMSNorm and the tied, UNscaled lm_head, as the model does.
 */
import { ConfigReader, type Json } from '../../config/reader.js';
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import { linear } from '../../graph/blocks.js';
import { GraphBuilder, type Value } from '../../graph/builder.js';
import { siglipVisionTower } from '../../graph/siglip.js';
import { parseVisionTowerConfig } from '../../graph/towers.js';
import type { VisionTowerConfig } from '../../graph/vision-tower.js';
import { LLAVA_NAMING, loadWeights, planWeights, type Weights } from '../../graph/weights.js';
import { CLIP_PROCESSOR, type ClipProcessorSpec } from '../../image/clip.js';
import { parseWith } from '../../image/processor.js';
import { parseSiglipProcessorConfig, SIGLIP_PROCESSOR } from '../../image/siglip.js';
import { packFeatures, singleViewLayout } from '../../layout/layout.js';
import type { TensorInfo, WeightTensor } from '../../source/types.js';
import { f32Sqrt, parseTextConfig, type TextConfig } from '../../text/models.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { LLAVA_TEXT_NAMING } from '../llava/index.js';
import { FEATURES_OUTPUT, PIXEL_INPUT, pixelInputs, type Family, type LoadedFamily } from '../types.js';

// ---------------------------------------------------------------- config

export interface PaliGemmaConfig {
  vision: VisionTowerConfig;
  text: TextConfig;
  /** Top-level PaliGemmaConfig.hidden_size: 4.45 divides the image features by its square root. */
  hiddenSize: number;
  /** Projector output size (PaliGemmaConfig.projection_dim, copied into vision_config.projection_dim). */
  projectionDim: number;
  imageTokenIndex: number;
}

/** PaliGemmaConfig.__init__ defaults (paligemma-3b-224). */
export const PALIGEMMA_DEFAULTS = {
  image_token_index: 256000,
  vocab_size: 257152,
  projection_dim: 2048,
  hidden_size: 2048,
  /** vision_config=None: SiglipVisionConfig(...) with these overrides. */
  vision_config: {
    model_type: 'siglip_vision_model',
    intermediate_size: 4096,
    hidden_size: 1152,
    patch_size: 14,
    image_size: 224,
    num_hidden_layers: 27,
    num_attention_heads: 16,
    vision_use_head: false,
  },
  /** text_config=None: GemmaConfig(...) with these overrides (vocab_size = the top-level one). */
  text_config: {
    model_type: 'gemma',
    hidden_size: 2048,
    num_hidden_layers: 18,
    intermediate_size: 16384,
    num_attention_heads: 8,
    num_key_value_heads: 1,
  },
};

const TEXT_MODEL_TYPES = ['gemma', 'gemma2'];

export function parsePaliGemmaConfig(r: ConfigReader): PaliGemmaConfig {
  const d = PALIGEMMA_DEFAULTS;
  // 4.45 stores the top-level vocabulary size as `_vocab_size` (older configs: `vocab_size`).
  const vocabSize = r.has('_vocab_size') ? r.posInt('_vocab_size') : r.posInt('vocab_size', d.vocab_size);
  // A vision_config dict without model_type is a siglip_vision_model; none at all is PaliGemma's SigLIP-So400m.
  const visionRaw: Json = r.has('vision_config')
    ? { model_type: 'siglip_vision_model', ...r.sub('vision_config').raw }
    : d.vision_config;
  const vision = parseVisionTowerConfig(
    new ConfigReader(visionRaw, `${r.where} → vision_config`),
    'siglip_vision_model',
  );
  if (vision.modelType !== 'siglip_vision_model') {
    throw new UnsupportedModelError(
      `${r.where} → vision_config: PaliGemma with a "${vision.modelType}" tower is not supported`,
      { hint: 'PaliGemma checkpoints use siglip_vision_model' },
    );
  }
  const textReader = r.has('text_config')
    ? r.sub('text_config')
    : new ConfigReader({ ...d.text_config, vocab_size: vocabSize }, `${r.where} → text_config (default)`);
  const text = parseTextConfig(textReader, 'gemma');
  if (!TEXT_MODEL_TYPES.includes(text.modelType)) {
    throw new UnsupportedModelError(
      `${textReader.where}: PaliGemma with a "${text.modelType}" language model is not supported`,
      { hint: `supported: ${TEXT_MODEL_TYPES.join(', ')}` },
    );
  }
  return {
    vision,
    text,
    hiddenSize: r.posInt('hidden_size', d.hidden_size),
    projectionDim: r.posInt('projection_dim', d.projection_dim),
    imageTokenIndex: r.int('image_token_index', d.image_token_index),
  };
}

// ---------------------------------------------------------------- vision graph

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

export { f32Sqrt } from '../../text/models.js';

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

// ---------------------------------------------------------------- the family

function processorFor(
  preprocessor: Json | null,
  cfg: PaliGemmaConfig,
  where: string,
): { spec: ClipProcessorSpec; notices: string[] } {
  const s = cfg.vision.imageSize;
  if (!preprocessor) {
    return {
      spec: parseSiglipProcessorConfig(
        { size: { height: s, width: s } },
        `${where} (no preprocessor_config.json)`,
      ),
      notices: [`${where}: no preprocessor_config.json; using SiglipImageProcessor defaults at ${s}px`],
    };
  }
  const file = `${where}/preprocessor_config.json`;
  const spec = parseWith(
    preprocessor,
    file,
    paligemma.processors,
    'CLIPImageProcessor',
    'a paligemma model',
  ) as ClipProcessorSpec;
  if (spec.cropSize.height !== s || spec.cropSize.width !== s) {
    throw new CheckpointError(
      `${file}: the processor gives ${spec.cropSize.width}x${spec.cropSize.height} images, vision_config.image_size is ${s}`,
    );
  }
  // PaliGemmaProcessor inserts image_seq_length placeholders; the model scatters (S/p)^2 vectors into them.
  const seq = new ConfigReader(preprocessor, file).int('image_seq_length', -1);
  const tokens = (s / cfg.vision.patchSize) ** 2;
  if (seq !== -1 && seq !== tokens) {
    throw new CheckpointError(
      `${file}: image_seq_length ${seq} does not match the ${tokens} image tokens of vision_config`,
    );
  }
  return { spec, notices: [] };
}

export const paligemma: Family = {
  modelType: 'paligemma',
  label: 'PaliGemma',
  exampleHubId: 'google/paligemma-3b-pt-224',
  viewsDescription:
    'base: the whole image squashed to a square (16x16 patches at 224 px); vectors as Gemma layer 0 sees them',
  processors: [SIGLIP_PROCESSOR, CLIP_PROCESSOR],
  load({ config, preprocessor, index, where }): LoadedFamily {
    const cfg = parsePaliGemmaConfig(config);
    const H = cfg.text.hiddenSize;
    if (cfg.projectionDim !== H) {
      throw new CheckpointError(
        `${where}/config.json: projection_dim ${cfg.projectionDim} differs from text_config.hidden_size ${H}`,
        { hint: 'the projector output goes straight into the LLM embeddings, so the two must be equal' },
      );
    }
    const { spec: proc, notices } = processorFor(preprocessor, cfg, where);
    if (cfg.hiddenSize !== H) {
      notices.push(
        `${where}: config.json hidden_size ${cfg.hiddenSize} differs from text_config.hidden_size ${H}; ` +
          `the image features are divided by sqrt(${cfg.hiddenSize}) as transformers 4.45 does (later versions use the text hidden size)`,
      );
    }
    if (cfg.text.modelType === 'gemma2') {
      notices.push(
        `${where}: Gemma-2's final_logit_softcapping is not applied to logit scores (the ranking is the same)`,
      );
    }
    // Gemma's text def gives (1 + w) RMSNorm and the sqrt(hidden) embedding scale (src/text/models.ts).
    const text = resolveTextTensors(index, cfg.text, where, {
      naming: LLAVA_TEXT_NAMING,
      declaredTie: cfg.text.tieWordEmbeddings,
    });
    const n = cfg.vision.imageSize / cfg.vision.patchSize;
    const grid = { rows: n, cols: n };
    const perCrop = n * n;
    return {
      modelType: 'paligemma',
      views: ['base'],
      text: text.spec,
      notices: [...notices, ...text.notices],
      visionTensorNames: () => paliGemmaVisionTensorNames(cfg, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildPaliGemmaVisionGraph(cfg, tensors, { where }).model,
      processor: proc,
      visionInputs: (pre) => pixelInputs(pre, perCrop),
      // 49 patches in raster order, no CLS; they come first in PaliGemma's prompt (before BOS).
      layout: (pre) => singleViewLayout(pre.geometry, grid),
      pack: (cropFeatures, pre, layout) =>
        packFeatures(cropFeatures, [pre.shape[0], perCrop, H], layout, null),
    };
  },
};
