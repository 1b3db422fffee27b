/**
 * `imgtokens batch <files | dir | glob>... --out results.jsonl [--shard i/n]`: parses flags, expands the inputs,
 * loads the model once and hands over to the library's batch runner (src/batch/). Prints a summary line.
 */
import { parseArgs } from 'node:util';
import { expandInputs, parseShard, runBatch as runBatchImages } from '../batch/index.js';
import { BadInputError } from '../errors.js';
import { loadModel } from '../model.js';
import type { ProgressCallback } from '../progress.js';
import { checkOutputPath } from './analyze.js';
import {
  DEEP_FLAGS,
  DEEP_HELP,
  DEFAULT_MODEL,
  MAX_WORDS,
  MODEL_FLAGS,
  parseDeepFlags,
  parseModelFlags,
} from './args.js';
import { progressBar } from './progress-bar.js';

export const BATCH_HELP = `imgtokens batch: analyse many images with one loaded model, one JSON line per image

Usage:
  imgtokens batch <files | folders | globs>... --out results.jsonl [options]

Each line is {"image": path, "result": <imgtokens.result/1, /2 with --layers>} or {"image": path, "error": message}.
Running again with the same --out skips images that already have a line (a cut-off last line is redone).
Folders and globs ("photos/**/*.jpg", quoted) expand to .jpg .jpeg .png .webp .gif files.

Options:
      --out <file>         the JSON Lines output (required; appended to)
      --shard <i/n>        only the images of shard i of n (1 <= i <= n), split by a hash of each path,
                           so n machines running 1/n .. n/n with the same arguments cover every image once;
                           "auto" reads a Kubernetes Indexed Job's JOB_COMPLETION_INDEX and JOB_COMPLETIONS
  -m, --model <id|dir>     hub id (org/name[@revision]) or local HF directory (default ${DEFAULT_MODEL})
      --revision <rev>     branch, tag or commit of a hub model
      --method <name>      lens method (default omp)
  -k, --num-words <n>      words per token, 1..${MAX_WORDS} (default 1)
      --exclude <kinds>    special,bytes
      --exif-transpose     rotate by the EXIF orientation first
      --device <d>         cpu | webgpu | cuda (default cpu)
      --image-backend <b>  torchvision | pil (Idefics3 / SmolVLM / InternVL; default torchvision)
      --no-worker          decode and preprocess on the main thread (no overlap with compute)
${DEEP_HELP}
  -q, --quiet              no progress output
  -h, --help               this help
`;

/** `imgtokens batch ...` (called by src/cli/main.ts); returns the exit code. */
export async function runBatch(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...MODEL_FLAGS,
        ...DEEP_FLAGS,
        out: { type: 'string', short: 'o' },
        shard: { type: 'string' },
        'no-worker': { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new BadInputError((e as Error).message, { hint: 'run imgtokens batch --help for the options' });
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(BATCH_HELP);
    return 0;
  }
  if (!v.out) throw new BadInputError('--out is required', { hint: 'e.g. --out results.jsonl' });
  const {
    model: modelId,
    revision,
    method,
    k,
    exclude,
    exifTranspose,
    device,
    imageBackend,
    reference,
    quiet,
  } = parseModelFlags(v);
  const deep = parseDeepFlags(v);
  const shard = v.shard === undefined ? undefined : parseShard(v.shard);
  await checkOutputPath('--out', v.out);
  const images = await expandInputs(parsed.positionals);

  const bar = progressBar({ quiet });
  // While loading: every event. Afterwards: the batch's own events and notices, not each image's stages.
  let loading = true;
  const onProgress: ProgressCallback = (e) => {
    if (loading || e.status === 'notice' || ('task' in e && e.task === 'batch')) bar(e);
  };
  const model = await loadModel(modelId, {
    revision,
    device,
    imageBackend,
    reference,
    onProgress,
    prepareLens: [method], // built in the lens thread while the vision graph loads
  });
  loading = false;
  try {
    const s = await runBatchImages(model, {
      images,
      out: v.out,
      method,
      k,
      exclude,
      shard,
      exifTranspose,
      prepare: v['no-worker'] ? 'inline' : 'worker',
      onProgress,
      deep,
    });
    bar.finish();
    if (!quiet) {
      const shardTxt = shard ? ` in shard ${shard.index}/${shard.count}` : '';
      process.stderr.write(
        `${s.inShard} images${shardTxt}: ${s.written} written (${s.failed} errors), ${s.skipped} already done -> ${v.out}\n`,
      );
    }
    return 0;
  } finally {
    await model.close();
  }
}
