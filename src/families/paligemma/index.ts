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
import { chooseBackend, IMAGE_BACKENDS } from '../../image/backend.js';
import type { Json } from '../../config/reader.js';
import { ConfigReader } from '../../config/reader.js';
import { CheckpointError } from '../../errors.js';
import { CLIP_PROCESSOR, type ClipProcessorSpec } from '../../image/clip.js';
import { parseWith } from '../../image/processor.js';
import { parseSiglipProcessorConfig, SIGLIP_PROCESSOR } from '../../image/siglip.js';
import { packFeatures, singleViewLayout } from '../../layout/layout.js';
import { resolveTextTensors } from '../../text/tensors.js';
import { LLAVA_TEXT_NAMING } from '../llava/index.js';
import { pixelInputs, type Family, type LoadedFamily } from '../types.js';
import { parsePaliGemmaConfig, type PaliGemmaConfig } from './config.js';
import { buildPaliGemmaVisionGraph, paliGemmaVisionTensorNames } from './vision.js';
import { PALIGEMMA_LANGUAGE } from './language.js';

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
  imageBackends: { options: IMAGE_BACKENDS, default: 'torchvision' },
  load({ config, preprocessor, imageBackend, index, where }): LoadedFamily {
    const cfg = parsePaliGemmaConfig(config);
    const H = cfg.text.hiddenSize;
    if (cfg.projectionDim !== H) {
      throw new CheckpointError(
        `${where}/config.json: projection_dim ${cfg.projectionDim} differs from text_config.hidden_size ${H}`,
        { hint: 'the projector output goes straight into the LLM embeddings, so the two must be equal' },
      );
    }
    const { spec: parsed, notices } = processorFor(preprocessor, cfg, where);
    const chosen = chooseBackend(parsed, imageBackend, paligemma.imageBackends!.default, where);
    const proc = chosen.spec;
    notices.push(chosen.notice);
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
      language: PALIGEMMA_LANGUAGE,
      notices: [...notices, ...text.notices],
      visionTensorNames: () => paliGemmaVisionTensorNames(cfg, index, where),
      extraTensorNames: () => [],
      buildVisionGraph: (tensors) => buildPaliGemmaVisionGraph(cfg, tensors, { where }).model,
      processor: proc,
      imageBackend: proc.backend,
      visionInputs: (pre) => pixelInputs(pre, perCrop),
      // 49 patches in raster order, no CLS; they come first in PaliGemma's prompt (before BOS).
      layout: (pre) => singleViewLayout(pre.geometry, grid),
      pack: (cropFeatures, pre, layout) =>
        packFeatures(cropFeatures, [pre.shape[0], perCrop, H], layout, null),
    };
  },
};
