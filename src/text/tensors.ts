/**
 * The text-side tensors the lens needs (input embeddings, final norm, output head), found under either tensor
 * naming, with tying decided from the checkpoint itself: no lm_head tensor means the head is the embedding matrix.
 */
import { MissingTensorError } from '../errors.js';
import type { TensorNaming } from '../graph/weights.js';
import type { TensorInfo } from '../source/types.js';
import { checkShape } from '../util/shape.js';
import {
  textModelDef,
  type DecoderConfig,
  type NormKind,
  type TextConfig,
  type TextModelDef,
} from './models.js';

/**
 * The language-model side of a loaded family: what the lens reads and how the text model treats its inputs.
 * The deep lens extends this description (prompt format, decoder blocks) in the same place.
 */
export interface TextSpec {
  /** The text model's model_type (text_config.model_type, or the family's own for flat configs). */
  modelType: string;
  vocabSize: number;
  hidden: number;
  rmsEps: number;
  normKind: NormKind;
  /** Factor the LLM multiplies input embeddings by (Gemma: sqrt(hidden)); 1 for Llama/Mistral/Qwen2. */
  embedScale: number;
  /** Checkpoint tensor names. lmHead is null when the embeddings are tied. */
  embed: string;
  lmHead: string | null;
  norm: string;
  /** Decoder layers (num_hidden_layers) and their settings, for the deep lens. */
  numLayers: number;
  decoder: DecoderConfig;
  /** False when the text model's layer is not the shared one (its def has no decoder defaults). */
  decoderSupported: boolean;
  /** Maps logical `language_model.model.layers.{i}.` names to the checkpoint's (read per layer by the deep lens). */
  naming: TensorNaming;
}

/** The logical prefix of decoder layer i (mapped by TextSpec.naming). */
export function decoderLayerPrefix(i: number): string {
  return `language_model.model.layers.${i}`;
}

export function resolveTextTensors(
  index: ReadonlyMap<string, TensorInfo>,
  text: TextConfig,
  where: string,
  opts: {
    /** Maps the logical `language_model.model.` / `language_model.lm_head.` names to the checkpoint's. */
    naming: TensorNaming;
    /** The text model's norm and embedding scale; default: the registered def of text.modelType. */
    model?: TextModelDef;
    declaredTie?: boolean;
  },
): { spec: TextSpec; notices: string[] } {
  const naming = opts.naming;
  const model = opts.model ?? textModelDef(text.modelType, where);
  const has = (n: string) => index.has(n);
  const find = (logical: string, required: boolean): string | null => {
    const name = naming.resolve(logical, has);
    if (name === undefined) {
      if (!required) return null;
      throw new MissingTensorError(
        `${where}: tensor ${logical} is missing (looked for ${naming.candidates(logical).join(', ')})`,
        {
          hint: 'the checkpoint is incomplete or not a LLaVA-family model; check the repo id and config.json',
        },
      );
    }
    return name;
  };
  const V = text.vocabSize;
  const D = text.hiddenSize;
  const mis = (m: string) =>
    new MissingTensorError(`${where}: ${m}`, { hint: 'config.json text_config does not match the weights' });
  const embed = find('language_model.model.embed_tokens.weight', true)!;
  checkShape(embed, index.get(embed)!.shape, [V, D], mis);
  const norm = find('language_model.model.norm.weight', true)!;
  checkShape(norm, index.get(norm)!.shape, [D], mis);
  const lmHead = find('language_model.lm_head.weight', false);
  if (lmHead) checkShape(lmHead, index.get(lmHead)!.shape, [V, D], mis);
  const notices: string[] = [];
  const declaredTie = opts.declaredTie ?? text.tieWordEmbeddings;
  if (!lmHead && !declaredTie) {
    notices.push(
      `${where}: no lm_head tensor although the config says tie_word_embeddings=false; using embed_tokens as the output head`,
    );
  }
  return {
    spec: {
      modelType: text.modelType,
      vocabSize: V,
      hidden: D,
      rmsEps: text.rmsNormEps,
      normKind: model.normKind,
      embedScale: model.embedScale(D),
      embed,
      lmHead,
      norm,
      numLayers: text.numHiddenLayers,
      decoder: text.decoder,
      decoderSupported: text.decoder.numHeads > 0 && text.decoder.problem === null,
      naming,
    },
    notices,
  };
}
