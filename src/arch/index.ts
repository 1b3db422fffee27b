/**
 * The architecture registry: one entry per `model_type`. Adding a family is one file plus one line here.
 */
import { UnsupportedModelError } from '../errors.js';
import { llava } from './llava.js';
import { llavaNext } from './llava_next.js';
import { llavaOnevision } from './llava_onevision.js';
import { paligemma } from './paligemma.js';
import { qwen2vl } from './qwen2_vl.js';
import { idefics3 } from '../families/idefics3/index.js';
import { smolvlm } from '../families/smolvlm/index.js';
import type { ArchFamily } from './types.js';

export const FAMILIES: ReadonlyMap<string, ArchFamily> = new Map([
  [llava.modelType, llava],
  [llavaNext.modelType, llavaNext],
  [paligemma.modelType, paligemma],
  [qwen2vl.modelType, qwen2vl],
  [llavaOnevision.modelType, llavaOnevision],
  [idefics3.modelType, idefics3],
  [smolvlm.modelType, smolvlm],
]);

export function getFamily(modelType: string, where: string): ArchFamily {
  const f = FAMILIES.get(modelType);
  if (!f) {
    throw new UnsupportedModelError(`${where}: model_type "${modelType}" is not supported`, {
      hint: `supported model types: ${[...FAMILIES.keys()].join(', ')}`,
    });
  }
  return f;
}

export type { ArchFamily, LoadedFamily, TextSpec } from './types.js';
