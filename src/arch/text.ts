/**
 * The text-side tensors the lens needs (input embeddings, final norm, output head), found under either tensor
 * naming, with tying decided from the checkpoint itself: no lm_head tensor means the head is the embedding matrix.
 */
import { MissingTensorError } from '../errors.js';
import { TensorNaming } from '../graph/weights.js';
import type { TensorInfo } from '../source/types.js';
import { checkShape } from '../util/shape.js';
import type { TextConfig } from './config.js';
import type { TextSpec } from './types.js';

/** LLaVA-family text naming: legacy `language_model.model.` / `language_model.lm_head.` and >= 4.52's layout. */
export const LLAVA_TEXT_NAMING = new TensorNaming({
  'language_model.model.': ['language_model.model.', 'model.language_model.'],
  'language_model.lm_head.': ['language_model.lm_head.', 'lm_head.'],
});

export function resolveTextTensors(
  index: ReadonlyMap<string, TensorInfo>,
  text: TextConfig,
  where: string,
  opts: {
    naming?: TensorNaming;
    normKind?: TextSpec['normKind'];
    embedScale?: number;
    declaredTie?: boolean;
  } = {},
): { spec: TextSpec; notices: string[] } {
  const naming = opts.naming ?? LLAVA_TEXT_NAMING;
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
      vocabSize: V,
      hidden: D,
      rmsEps: text.rmsNormEps,
      normKind: opts.normKind ?? 'rms',
      embedScale: opts.embedScale ?? 1,
      embed,
      lmHead,
      norm,
    },
    notices,
  };
}
