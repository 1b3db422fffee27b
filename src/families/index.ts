/**
 * The family registry: one line per `model_type`. Adding a family is its folder plus one line in FAMILY_LIST (and
 * its conformance case in test/conformance.test.ts). The image-processor registry (by image_processor_type) is
 * filled from the processors each family accepts, so preprocessing a spec (in the loader or in a worker thread)
 * needs no switch on its type.
 */
import type { Json } from '../config/reader.js';
import { UnsupportedModelError } from '../errors.js';
import {
  parseWith,
  type PreprocessResult,
  type ProcessorDef,
  type ProcessorSpec,
} from '../image/processor.js';
import type { RgbImage } from '../types.js';
import { llava } from './llava/index.js';
import { llavaNext } from './llava_next/index.js';
import { llavaOnevision } from './llava_onevision/index.js';
import { paligemma } from './paligemma/index.js';
import { qwen2vl } from './qwen2_vl/index.js';
import { qwen2_5vl } from './qwen2_5_vl/index.js';
import { qwen3vl } from './qwen3_vl/index.js';
import { idefics3 } from './idefics3/index.js';
import { smolvlm } from './smolvlm/index.js';
import { gemma3 } from './gemma3/index.js';
import { gemma4 } from './gemma4/index.js';
import { internvl } from './internvl/index.js';
import type { Family } from './types.js';

const FAMILY_LIST: readonly Family[] = [
  llava,
  llavaNext,
  paligemma,
  qwen2vl,
  llavaOnevision,
  qwen2_5vl,
  qwen3vl,
  idefics3,
  smolvlm,
  gemma3,
  gemma4,
  internvl,
];

export const FAMILIES: ReadonlyMap<string, Family> = new Map(FAMILY_LIST.map((f) => [f.modelType, f]));

export function getFamily(modelType: string, where: string): Family {
  const f = FAMILIES.get(modelType);
  if (!f) {
    throw new UnsupportedModelError(`${where}: model_type "${modelType}" is not supported`, {
      hint: `supported model types: ${[...FAMILIES.keys()].join(', ')}`,
    });
  }
  return f;
}

/** Every image processor class a registered family accepts, by image_processor_type. */
export const PROCESSORS: ReadonlyMap<string, ProcessorDef> = (() => {
  const m = new Map<string, ProcessorDef>();
  for (const p of FAMILY_LIST.flatMap((f) => f.processors)) {
    const had = m.get(p.type);
    if (had && had !== p) throw new Error(`two image processors registered as ${p.type}`);
    m.set(p.type, p);
  }
  return m;
})();

/** Parses a preprocessor_config.json with whichever registered processor it names (CLIPImageProcessor if none). */
export function parseProcessorConfig(raw: Json, where = 'preprocessor_config.json'): ProcessorSpec {
  return parseWith(raw, where, [...PROCESSORS.values()], 'CLIPImageProcessor', 'imgtokens');
}

/** Runs a parsed processor spec on one image: the ProcessorDef registered under spec.type. */
export function preprocessImage(rgb: RgbImage, spec: ProcessorSpec): PreprocessResult {
  const def = PROCESSORS.get(spec.type);
  if (!def) {
    throw new UnsupportedModelError(`image processor "${spec.type}" is not registered`, {
      hint: `registered image processors: ${[...PROCESSORS.keys()].join(', ')}`,
    });
  }
  return def.run(rgb, spec);
}

export type { Family, LoadedFamily, TextSpec, VisionInputs } from './types.js';
