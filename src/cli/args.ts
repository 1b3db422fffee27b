/**
 * Command-line parsing for `imgtokens <image>`: flags are validated here, at the boundary, into typed options;
 * every bad value gives a BadInputError naming the flag and the accepted range.
 */
import { parseArgs } from 'node:util';
import { BadInputError } from '../errors.js';
import {
  DEFAULT_K,
  DEFAULT_METHOD,
  isLensMethod,
  LENS_METHOD_TABLE,
  LENS_METHODS,
  type LensMethod,
} from '../lens-methods.js';
import { parseViewChoice } from '../render/text.js';
import { VIEW_CHOICES, type ExcludeKind, type ViewChoice } from '../types.js';
import type { DeepOptions, Device, ImageBackend, Reference } from '../api.js';
import { WEIGHT_DTYPES, type WeightDType } from '../graph/quant.js';

export const DEFAULT_MODEL = 'llava-hf/llava-v1.6-vicuna-7b-hf';
export const MAX_WORDS = 100;

export type { ViewChoice } from '../types.js';

/** The deep-lens flags (analyze and batch): --layers turns the deep lens on; the others refine it. */
export const DEEP_FLAGS = {
  layers: { type: 'string' },
  prompt: { type: 'string' },
  'raw-prompt': { type: 'string' },
  'lens-compat': { type: 'string' },
  dtype: { type: 'string' },
} as const;

export const DEEP_HELP = `      --layers <spec>      the deep lens: run the language model on the image's prompt and read the
                           logit lens and the embedding lens at every chosen layer: all | a-b | i,j,k
                           (hidden-state indices: 0 = the input embeddings, N = the last layer)
      --prompt <question>  the question, put through the model's chat template
                           (default "What is shown in this image?")
      --raw-prompt <text>  the prompt text as the processor gets it (write the image placeholder once)
      --lens-compat <m>    llava-interp: its double norm at the last layer and its "Layer i+1" names
      --dtype <d>          fp32 (default, exact) | q8 | q4: the opt-in fast path, decoder linear layers
                           with weight-only int8 / int4 blockwise weights (onnxruntime MatMulNBits)`;

/** Validates the DEEP_FLAGS values; undefined when --layers is absent (and the other deep flags then refused). */
export function parseDeepFlags(v: {
  layers?: string;
  prompt?: string;
  'raw-prompt'?: string;
  'lens-compat'?: string;
  dtype?: string;
}): DeepOptions | undefined {
  const compat = v['lens-compat'];
  if (compat !== undefined && compat !== 'llava-interp') {
    throw new BadInputError(`--lens-compat must be llava-interp, got "${compat}"`);
  }
  const dtype = v.dtype;
  if (dtype !== undefined && !(WEIGHT_DTYPES as readonly string[]).includes(dtype)) {
    throw new BadInputError(`--dtype must be ${WEIGHT_DTYPES.join(', ')}, got "${dtype}"`);
  }
  if (v.prompt !== undefined && v['raw-prompt'] !== undefined) {
    throw new BadInputError('give either --prompt or --raw-prompt, not both');
  }
  if (v.layers === undefined) {
    const stray = (['prompt', 'raw-prompt', 'lens-compat', 'dtype'] as const).find((f) => v[f] !== undefined);
    if (stray) {
      throw new BadInputError(`--${stray} needs --layers (it belongs to the deep lens)`, {
        hint: 'add --layers all (or a range such as --layers 0-8)',
      });
    }
    return undefined;
  }
  return {
    layers: v.layers,
    ...(v.prompt !== undefined ? { prompt: v.prompt } : {}),
    ...(v['raw-prompt'] !== undefined ? { rawPrompt: v['raw-prompt'] } : {}),
    ...(compat ? { compat } : {}),
    ...(dtype !== undefined ? { dtype: dtype as WeightDType } : {}),
  };
}

export interface AnalyzeArgs extends ModelFlags {
  image: string;
  size: number;
  view: ViewChoice;
  saveImg?: string;
  saveHtml?: string;
  json?: string;
  saveWords?: string;
  dumpTensors?: string;
  exclude: ExcludeKind[];
  exifTranspose: boolean;
  device: Device;
  quiet: boolean;
  inline: 'auto' | 'never' | 'always';
  /** The deep lens (--layers and friends); absent = the projector-level lens only. */
  deep?: DeepOptions;
  /** --layer N: the PNG and terminal draw deep-lens layer N (a hidden_states index). */
  layer?: number;
}

/** The --method lines of --help: one per row of the method table. */
const METHOD_HELP = LENS_METHOD_TABLE.map(
  (m) =>
    `                           ${m.name.padEnd(10)} ${m.description}${m.name === DEFAULT_METHOD ? ' (default)' : ''}`,
).join('\n');

export const ANALYZE_HELP = `imgtokens: show which vocabulary words a VLM's image tokens are closest to

Usage:
  imgtokens <image path | URL | -> [options]
  imgtokens download <model> [--revision REV]   fetch only the tensors analysis needs
  imgtokens cache ls | cache rm <model>          show or free the download cache
  imgtokens cache rm --sessions | cache verify   free or fully check the session cache
  imgtokens serve [--model M] [--port 8000] [--host 127.0.0.1]   local web app
  imgtokens batch <files | dir | glob> --out results.jsonl [--shard i/n]
  imgtokens models                               supported model families

Options:
  -m, --model <id|dir>     hub id (org/name[@revision]) or local HF directory
                           (default ${DEFAULT_MODEL})
      --revision <rev>     branch, tag or commit of a hub model
      --method <name>      how words are found (default ${DEFAULT_METHOD}):
${METHOD_HELP}
  -k, --num-words <n>      words per token, 1..${MAX_WORDS} (default ${DEFAULT_K})
      --size <px>          longest side of the PNG (default 1000)
      --view <v>           ${VIEW_CHOICES.join(' | ')} (default all; the model's views only)
      --save-img <png>     the image with words drawn over each patch
      --save-html <html>   one self-contained interactive page
      --layer <n>          draw deep-lens layer n's words in the PNG and terminal
      --json <file>        the full result (schema imgtokens.result/1; /2 with --layers)
      --save-words <file>  the original tool's grid of words (JSON)
      --dump-tensors <dir> pixel_values.npy, crop_features.npy, image_features.npy, layout.json;
                           with --layers also input_ids.npy, hidden_states.npy, lens_ids.npy,
                           lens_scores.npy, final_logits.npy (named and shaped as the deep fixtures)
${DEEP_HELP}
      --exclude <kinds>    hide special and/or byte tokens: special,bytes
      --exif-transpose     rotate by the EXIF orientation first (transformers does not)
      --device <d>         cpu | webgpu | cuda (default cpu)
      --image-backend <b>  pil | torchvision: which transformers 5 image processor to mirror
                           (default: what AutoProcessor picks, torchvision; pil with --reference v4)
      --reference <v>      v4 | v5: whose behaviour to mirror where transformers 4.45.1 and 5.x differ
                           (image processing, anyres padding, the deep lens; default v5)
      --no-inline          never draw the picture in the terminal
  -q, --quiet              no progress output
  -h, --help               this help
  -V, --version            the version

Examples:
  imgtokens photo.jpg
  imgtokens photo.jpg --model llava-hf/llava-1.5-7b-hf --method cosine -k 5 --save-html photo.html
  imgtokens https://example.com/cat.png --save-img cat-words.png --json cat.json --exclude special,bytes
  imgtokens photo.jpg --model ./my-llava-dir --dump-tensors out/
  imgtokens photo.jpg --model llava-hf/llava-1.5-7b-hf --layers all --json deep.json

Environment: HF_TOKEN, HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE=1.
`;

function intFlag(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BadInputError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

export function parseExclude(v: string | undefined): ExcludeKind[] {
  if (v === undefined || v === '') return [];
  const out: ExcludeKind[] = [];
  for (const part of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (part !== 'special' && part !== 'bytes') {
      throw new BadInputError(`--exclude takes a comma-separated list of special, bytes; got "${part}"`);
    }
    if (!out.includes(part)) out.push(part);
  }
  return out;
}

export function parseMethod(v: string | undefined): LensMethod {
  if (v === undefined) return DEFAULT_METHOD;
  if (!isLensMethod(v)) {
    throw new BadInputError(`unknown --method "${v}"; choose one of ${LENS_METHODS.join(', ')}`);
  }
  return v;
}

/** Flags every model-running command takes (analyze, batch): which model, which lens, which device. */
export const MODEL_FLAGS = {
  model: { type: 'string', short: 'm' },
  revision: { type: 'string' },
  method: { type: 'string' },
  'num-words': { type: 'string', short: 'k' },
  exclude: { type: 'string' },
  'exif-transpose': { type: 'boolean' },
  device: { type: 'string' },
  'image-backend': { type: 'string' },
  reference: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ModelFlags {
  model: string;
  revision?: string;
  method: LensMethod;
  k: number;
  exclude: ExcludeKind[];
  exifTranspose: boolean;
  device: Device;
  /** transformers 5's image-processor backend to mirror (families with two); absent = the family's default. */
  imageBackend?: ImageBackend;
  reference?: Reference;
  quiet: boolean;
}

/** Validates the MODEL_FLAGS values (parseArgs output) into typed options. */
export function parseModelFlags(v: {
  model?: string;
  revision?: string;
  method?: string;
  'num-words'?: string;
  exclude?: string;
  'exif-transpose'?: boolean;
  device?: string;
  'image-backend'?: string;
  reference?: string;
  quiet?: boolean;
}): ModelFlags {
  const ref = v.reference;
  if (ref !== undefined && ref !== 'v4' && ref !== 'v5') {
    throw new BadInputError(`--reference must be v4 or v5, got "${ref}"`);
  }
  const backend = v['image-backend'];
  if (backend !== undefined && backend !== 'pil' && backend !== 'torchvision') {
    throw new BadInputError(`--image-backend must be pil or torchvision, got "${backend}"`);
  }
  const device = v.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'webgpu' && device !== 'cuda') {
    throw new BadInputError(`--device must be cpu, webgpu or cuda, got "${device}"`);
  }
  let model = v.model ?? DEFAULT_MODEL;
  let revision = v.revision;
  const at = model.lastIndexOf('@');
  if (at > 0 && !model.startsWith('.') && !model.startsWith('/')) {
    if (revision !== undefined)
      throw new BadInputError('give the revision either as --model org/name@rev or --revision, not both');
    revision = model.slice(at + 1);
    model = model.slice(0, at);
  }
  return {
    model,
    revision,
    method: parseMethod(v.method),
    k: intFlag('num-words', v['num-words'], DEFAULT_K, 1, MAX_WORDS),
    exclude: parseExclude(v.exclude),
    exifTranspose: v['exif-transpose'] ?? false,
    device,
    imageBackend: backend,
    ...(ref ? { reference: ref } : {}),
    quiet: v.quiet ?? false,
  };
}

export function parseAnalyzeArgs(argv: string[]): AnalyzeArgs | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...MODEL_FLAGS,
        ...DEEP_FLAGS,
        size: { type: 'string' },
        view: { type: 'string' },
        'save-img': { type: 'string' },
        'save-html': { type: 'string' },
        json: { type: 'string' },
        'save-words': { type: 'string' },
        'dump-tensors': { type: 'string' },
        layer: { type: 'string' },
        inline: { type: 'boolean' },
        'no-inline': { type: 'boolean' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (e) {
    throw new BadInputError(`${(e as Error).message}`, {
      hint: 'run imgtokens --help for the list of options',
    });
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.version) return 'version';
  if (parsed.positionals.length === 0) {
    throw new BadInputError('no image given', {
      hint: 'usage: imgtokens <image path | URL | -> [--model ...]; see --help',
    });
  }
  if (parsed.positionals.length > 1) {
    throw new BadInputError(
      `one image at a time, got ${parsed.positionals.length} (${parsed.positionals.join(' ')})`,
      {
        hint: 'use `imgtokens batch` for many images',
      },
    );
  }
  const view = parseViewChoice(v.view ?? 'all', '--view');
  return {
    ...parseModelFlags(v),
    image: parsed.positionals[0],
    size: intFlag('size', v.size, 1000, 16, 16384),
    view,
    saveImg: v['save-img'],
    saveHtml: v['save-html'],
    json: v.json,
    saveWords: v['save-words'],
    dumpTensors: v['dump-tensors'],
    deep: parseDeepFlags(v),
    inline: v['no-inline'] ? 'never' : v.inline ? 'always' : 'auto',
    ...(v.layer === undefined ? {} : { layer: intFlag('layer', v.layer, 0, 0, 1000) }),
  };
}
