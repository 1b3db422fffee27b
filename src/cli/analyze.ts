/**
 * `imgtokens <image>`: load the model, encode the image, run the lens, write the requested outputs and show
 * the picture in the terminal. Output paths are checked before the model loads, and every file is written
 * atomically, so a bad path fails fast and nothing is left half-written.
 */
import { access, mkdir, realpath, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { BadInputError } from '../errors.js';
import { loadImage } from '../image/decode.js';
import { loadModel } from '../model.js';
import { SessionCache } from '../runtime/session-cache.js';
import {
  detectInlineProtocol,
  inlineImage,
  renderHtml,
  renderPng,
  serializeResult,
  serializeWords,
  shouldShowInline,
  textGrid,
  resultAtLayer,
  deepPngOptions,
  wordsGrid,
  writeFileAtomic,
} from '../render/index.js';
import type { DeepResult } from '../api.js';
import type { ImageFeatures, ResultJson } from '../types.js';
import { DEFAULT_MAX_IMAGE_BYTES, fetchLimited, isUrl, readLimited } from '../util/fetch-limited.js';
import { encodeNpy } from '../util/npy.js';
import type { AnalyzeArgs } from './args.js';
import { progressBar } from './progress-bar.js';

/** Fails now (before minutes of loading) when an output file's folder is missing or not writable. */
export async function checkOutputPath(flag: string, path: string): Promise<void> {
  const dir = dirname(resolve(path));
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory())
    throw new BadInputError(`${flag} ${path}: folder ${dir} does not exist`, { hint: 'create it first' });
  const target = await stat(path).catch(() => undefined);
  if (target?.isDirectory()) throw new BadInputError(`${flag} ${path} is a folder; give a file name`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new BadInputError(`${flag} ${path}: folder ${dir} is not writable`);
  }
}

/** The path as it will be written: symlinks in the folder and the file itself resolved where they exist. */
async function resolvedTarget(p: string): Promise<string> {
  const full = resolve(p);
  const real = await realpath(full).catch(() => undefined);
  if (real) return real;
  const dir = await realpath(dirname(full)).catch(() => dirname(full));
  return join(dir, full.slice(dirname(full).length + 1));
}

/**
 * Refuses outputs that would clobber each other or the input: an empty path, one path for two flags (one
 * file would be lost), or an output that is the input image (it would be overwritten before it is read).
 */
export async function checkDistinctOutputs(
  outputs: ReadonlyArray<readonly [string, string | undefined]>,
  image: string,
): Promise<void> {
  const seen = new Map<string, string>();
  const input = image === '-' || isUrl(image) ? undefined : await resolvedTarget(image);
  for (const [flag, p] of outputs) {
    if (p === undefined) continue;
    if (p.trim() === '')
      throw new BadInputError(`${flag} was given an empty path`, { hint: `give ${flag} a file name` });
    const target = await resolvedTarget(p);
    const other = seen.get(target);
    if (other) {
      throw new BadInputError(`${other} and ${flag} both write ${p}; one file would be lost`, {
        hint: 'give each output its own file name',
      });
    }
    if (input !== undefined && target === input) {
      throw new BadInputError(`${flag} ${p} is the input image; it would be overwritten`, {
        hint: 'write the output to another file',
      });
    }
    seen.set(target, flag);
  }
}

async function readImageArg(image: string): Promise<{ input: string | Uint8Array; name: string }> {
  if (image === '-')
    return {
      input: await readLimited(process.stdin, DEFAULT_MAX_IMAGE_BYTES, 'standard input'),
      name: 'stdin',
    };
  if (isUrl(image)) {
    const name = decodeURIComponent(new URL(image).pathname.split('/').pop() || 'image');
    return { input: await fetchLimited(image), name };
  }
  const st = await stat(image).catch(() => undefined);
  if (!st)
    throw new BadInputError(`no such file: ${image}`, {
      hint: 'give an image path, an http(s) URL, or - for standard input',
    });
  if (!st.isFile()) throw new BadInputError(`${image} is not a file`);
  return { input: image, name: image.split('/').pop() ?? image };
}

/** Writes the fixtures-named tensor dump: pixel_values.npy, crop_features.npy (anyres), image_features.npy, layout.json. */
export async function dumpTensors(dir: string, f: ImageFeatures, modelType: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const anyres = f.layout.views.some((v) => v.name === 'grid');
  // As the image processors return them: anyres models [1, crops, 3, H, W]; single-view [1, 3, H, W];
  // Qwen2-VL its flattened patch rows [patches, C*T*p*p].
  // Tiling families (Idefics3 / SmolVLM) already give the processor's [1, tiles, 3, M, M]; a family that states the
  // processor's shape (InternVL: [tiles, 3, T, T]) is written as stated.
  const pixelShape =
    f.processorShape ?? (anyres && f.pixelShape.length === 4 ? [1, ...f.pixelShape] : f.pixelShape);
  await writeFileAtomic(join(dir, 'pixel_values.npy'), encodeNpy(f.pixelValues, pixelShape));
  if (anyres) await writeFileAtomic(join(dir, 'crop_features.npy'), encodeNpy(f.cropFeatures, f.cropShape));
  const n = f.layout.tokens.length;
  await writeFileAtomic(join(dir, 'image_features.npy'), encodeNpy(f.features, [n, f.hidden]));
  await writeFileAtomic(join(dir, 'layout.json'), JSON.stringify({ modelType, ...f.layout }, null, 1) + '\n');
}

/**
 * The deep lens's dump, named and shaped as ../shared/fixtures-deep: input_ids.npy int64 [1, seq],
 * hidden_states.npy float32 [chosen layers, n_image_tokens, hidden] (HF semantics: index N already normed),
 * lens_ids.npy int64 / lens_scores.npy float32 [chosen layers, n_image_tokens, k] (the logit lens), and
 * final_logits.npy float32 [vocab] when the last layer ran; deep_layers.json lists the chosen layer indices.
 */
export async function dumpDeepTensors(dir: string, r: DeepResult): Promise<void> {
  await mkdir(dir, { recursive: true });
  const t = r.tensors;
  const s = t.shape;
  await writeFileAtomic(join(dir, 'input_ids.npy'), encodeNpy(t.inputIds, [1, s.seq]));
  await writeFileAtomic(
    join(dir, 'hidden_states.npy'),
    encodeNpy(t.hiddenStates, [s.layers, s.tokens, s.hidden]),
  );
  await writeFileAtomic(join(dir, 'lens_ids.npy'), encodeNpy(t.lensIds, [s.layers, s.tokens, s.k]));
  await writeFileAtomic(join(dir, 'lens_scores.npy'), encodeNpy(t.lensScores, [s.layers, s.tokens, s.k]));
  if (t.finalLogits) {
    await writeFileAtomic(join(dir, 'final_logits.npy'), encodeNpy(t.finalLogits, [t.finalLogits.length]));
  }
  const layers = r.deep.layers.map((l) => l.layer);
  await writeFileAtomic(join(dir, 'deep_layers.json'), JSON.stringify({ layers }) + '\n');
}

export async function runAnalyze(a: AnalyzeArgs): Promise<ResultJson> {
  const outputs: Array<[string, string | undefined]> = [
    ['--save-img', a.saveImg],
    ['--save-html', a.saveHtml],
    ['--json', a.json],
    ['--save-words', a.saveWords],
  ];
  await checkDistinctOutputs(outputs, a.image);
  for (const [flag, p] of outputs) if (p) await checkOutputPath(flag, p);
  if (a.dumpTensors !== undefined && a.dumpTensors.trim() === '') {
    throw new BadInputError('--dump-tensors was given an empty path', { hint: 'give it a folder' });
  }
  if (a.dumpTensors) {
    const st = await stat(a.dumpTensors).catch(() => undefined);
    if (st && !st.isDirectory())
      throw new BadInputError(`--dump-tensors ${a.dumpTensors} is a file; give a folder`);
    if (!st) await checkOutputPath('--dump-tensors', join(a.dumpTensors, '.'));
  }
  const { input, name } = await readImageArg(a.image);
  const bar = progressBar({ quiet: a.quiet });
  // The image decodes (sharp, on libuv's threads) while the model loads (onnxruntime, on this thread).
  const decoding = loadImage(input, { exifTranspose: a.exifTranspose, name });
  decoding.catch(() => undefined); // awaited (and its error reported) after the model has loaded
  try {
    const model = await loadModel(a.model, {
      revision: a.revision,
      device: a.device,
      imageBackend: a.imageBackend,
      reference: a.reference,
      onProgress: bar,
      // One image: map the cached weights, pack them during the runs. Sessions then load in about 0.07 s from the
      // session cache, leaving the lens thread nothing to overlap (2.59 vs 2.67 s, docs/bench.md); with the cache
      // off every session is built from the checkpoint, and the lens thread builds its sessions beside the vision
      // session's build (llava-1.5-7b shapes: 6.1 vs 4.4 s).
      prepackWeights: false,
      ...(SessionCache.fromEnv() === null ? { prepareLens: [a.method] } : {}),
    });
    try {
      const encodeOpts = { exifTranspose: a.exifTranspose, name, onProgress: bar };
      const prepared = await model.prepareDecoded(await decoding, encodeOpts);
      const features = await model.encodePrepared(prepared, encodeOpts);
      if (a.dumpTensors) await dumpTensors(a.dumpTensors, features, model.info.modelType);
      const result = await model.lens(features, { method: a.method, k: a.k, exclude: a.exclude });
      result.image.name = name;
      if (a.deep) {
        const d = await model.deep(features, {
          k: a.k,
          exclude: a.exclude,
          onProgress: bar,
          keepHidden: a.dumpTensors !== undefined,
          ...a.deep,
        });
        if (a.dumpTensors) await dumpDeepTensors(a.dumpTensors, d);
        result.schema = 'imgtokens.result/2';
        result.deep = d.deep;
      }
      const view = a.view;
      if (view !== 'all' && !result.views.some((v) => v.name === view)) {
        throw new BadInputError(
          `--view ${view}: this model has only the ${result.views.map((v) => v.name).join(', ')} view`,
        );
      }
      const rgb = features.rgb;
      // --layer N: the PNG and the terminal draw that deep-lens layer's words (the JSON and HTML keep them all);
      // a deep lens over several layers without --layer makes the PNG a sheet of them (src/render/deep.ts).
      const drawn = a.layer === undefined ? result : resultAtLayer(result, a.layer);
      const deepPng = deepPngOptions(result, a.layer);
      let png: Buffer | undefined;
      const needPng =
        a.saveImg !== undefined ||
        (a.inline !== 'never' && (a.inline === 'always' || shouldShowInline(process.stdout)));
      // Outputs that show one grid (the words file, the terminal text) take the first view for 'all'.
      const oneView = view === 'all' ? result.views[0].name : view;
      if (needPng)
        png = await renderPng(result, rgb, { view, size: a.size, words: Math.min(a.k, 3), ...deepPng });
      if (a.saveImg && png) await writeFileAtomic(a.saveImg, png);
      if (a.saveHtml) await writeFileAtomic(a.saveHtml, await renderHtml(result, rgb, { view }));
      if (a.json) await writeFileAtomic(a.json, serializeResult(result));
      if (a.saveWords) {
        await writeFileAtomic(a.saveWords, serializeWords(wordsGrid(result, { view: oneView, words: a.k })));
      }
      bar.finish();
      if (png && a.inline !== 'never' && (a.inline === 'always' || shouldShowInline(process.stdout))) {
        const proto = detectInlineProtocol();
        process.stdout.write(
          proto === 'text'
            ? textGrid(drawn, {
                view: oneView,
                columns: process.stdout.columns ?? 80,
              })
            : inlineImage(png, proto) + '\n',
        );
      }
      const noFiles = outputs.every(([, p]) => !p) && !a.dumpTensors;
      if (!png && noFiles) {
        // Piped with nothing else asked for: the words as text, so `imgtokens photo.jpg | less` shows something.
        process.stdout.write(textGrid(drawn, { view: oneView, columns: 160 }));
      }
      const wrote = outputs.filter(([, p]) => p).map(([, p]) => p);
      if (!a.quiet) {
        const count = result.tokens.length;
        const deep = result.deep
          ? `; deep lens over ${result.deep.layers.length} of ${result.deep.numLayers + 1} hidden states${result.deep.next[0] ? `, next token ${JSON.stringify(result.deep.next[0].text)}` : ''}`
          : '';
        process.stderr.write(
          `${count} image tokens, method ${result.method}, k ${result.k}${deep}${wrote.length ? `; wrote ${wrote.join(', ')}` : ''}\n`,
        );
      }
      return result;
    } finally {
      await model.close();
    }
  } finally {
    bar.finish();
  }
}
