/**
 * The model loader: a local directory or hub id in, an ImgTokensModel out. It reads config.json, picks the
 * family from the registry by model_type, reads only the tensors that family's vision graph and the lens need,
 * builds the ONNX vision graph and the lens, then encodes and analyses images with them.
 */
import { dirname, relative, resolve, sep } from 'node:path';
import type {
  DeepOptions,
  DeepResult,
  Device,
  EncodeOptions,
  ImageBackend,
  ImgTokensModel,
  Reference,
  LoadOptions,
  ModelInfo,
} from './api.js';
import { WEIGHT_DTYPES } from './graph/quant.js';
import { runDeepLens, decoderLayerSpec, parseLayers, type DeepRaw } from './llm/deep.js';
import { buildPrompt, findChatTemplate, type BuiltPrompt } from './llm/prompt.js';
import { PromptTokenizer } from './llm/tokenizer.js';
import { ConfigReader, type Json } from './config/reader.js';
import { FAMILIES, getFamily, preprocessImage, type LoadedFamily } from './families/index.js';
import { runVision } from './families/run.js';
import { FEATURES_OUTPUT } from './families/types.js';
import {
  BadInputError,
  CheckpointError,
  ClosedError,
  NonFiniteError,
  TooLargeError,
  UnsupportedModelError,
} from './errors.js';
import { loadImage, type DecodedImage } from './image/decode.js';
import { Lens, LensThread, type LensEngine } from './lens/index.js';
import { stage, type ProgressCallback } from './progress.js';
import { Session, settleSessionCache } from './runtime/session.js';
import { SessionCache } from './runtime/session-cache.js';
import { checkAnyresGrid, checkProcessorSizes } from './source/config-limits.js';
import {
  HubSource,
  openSource,
  tensorToFloat32,
  type ModelSource,
  type RawTensor,
  type TensorInfo,
  type WeightTensor,
} from './source/index.js';
import type { PreprocessResult } from './image/processor.js';
import type {
  DeepLayerJson,
  DeepJson,
  ImageFeatures,
  ImageInput,
  LensOptions,
  ResultJson,
  RgbImage,
  TopK,
  WordScore,
} from './types.js';
import { Vocab } from './vocab/index.js';

async function readJson(source: ModelSource, file: string, required: boolean): Promise<Json | null> {
  const bytes = await source.readFile(file);
  if (!bytes) {
    if (required) {
      throw new CheckpointError(`${source.description}: no ${file}`, {
        hint: 'a model is a Hugging Face directory (or hub repo) with config.json, tokenizer.json and safetensors weights',
      });
    }
    return null;
  }
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (e) {
    throw new CheckpointError(`${source.description}/${file} is not valid JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** A decoded and preprocessed image, ready for the vision graph (see Model.prepare / LoadedFamily.processor). */
export interface PreparedImage {
  rgb: RgbImage;
  pre: PreprocessResult;
}

export interface ModelPlan {
  where: string;
  loaded: LoadedFamily;
  tokenizer: Uint8Array;
  tokenizerConfig: Json;
  /** Every tensor analysis reads: the vision graph's, extras (image_newline) and the lens matrices. */
  tensorNames: string[];
  /** The checkpoint's tensor index (headers). */
  index: ReadonlyMap<string, TensorInfo>;
}

/** Reads the small files and tensor headers and decides which tensors analysis needs (no tensor data is read). */
export async function planModel(
  source: ModelSource,
  onProgress?: ProgressCallback,
  imageBackend?: ImageBackend,
  reference: Reference = 'v5',
): Promise<ModelPlan> {
  const where = source.description;
  const config = await readJson(source, 'config.json', true);
  if (typeof config!.model_type !== 'string' || config!.model_type === '') {
    throw new CheckpointError(`${where}/config.json has no "model_type"`, {
      hint: `imgtokens picks the architecture by it; supported: ${[...FAMILIES.keys()].join(', ')} (a transformers save_pretrained() writes it)`,
    });
  }
  const reader = new ConfigReader(config!, `${where}/config.json`);
  const family = getFamily(reader.str('model_type', '(missing)'), `${where}/config.json`);
  const preprocessor = await readJson(source, 'preprocessor_config.json', false);
  // transformers 5.x writes the image-processor settings nested in processor_config.json (src/config/processor-config.ts).
  const processorConfig = await readJson(source, 'processor_config.json', false);
  checkProcessorSizes(config!, `${where}/config.json`);
  if (preprocessor) checkProcessorSizes(preprocessor, `${where}/preprocessor_config.json`);
  if (processorConfig) checkProcessorSizes(processorConfig, `${where}/processor_config.json`);
  checkAnyresGrid(config!, preprocessor, where);
  const tokenizer = await source.readFile('tokenizer.json');
  if (!tokenizer) {
    throw new CheckpointError(`${where}: no tokenizer.json`, {
      hint: 'imgtokens needs the fast-tokenizer file tokenizer.json to show words',
    });
  }
  const tokenizerConfig = (await readJson(source, 'tokenizer_config.json', false)) ?? {};
  const index = await source.tensorIndex();
  if (reference !== 'v4' && reference !== 'v5') {
    throw new BadInputError(`reference must be v4 or v5, got ${JSON.stringify(reference)}`);
  }
  // 4.45 had only the Pillow processors, so mirroring it means Pillow unless a backend is asked for
  const backend = imageBackend ?? (reference === 'v4' ? 'pil' : undefined);
  const loaded = family.load({
    config: reader,
    preprocessor,
    processorConfig,
    imageBackend: backend,
    reference,
    index,
    where,
  });
  for (const n of loaded.notices) onProgress?.({ status: 'notice', message: n });
  const t = loaded.text;
  const tensorNames = [
    ...loaded.visionTensorNames(),
    ...loaded.extraTensorNames(),
    t.embed,
    t.norm,
    ...(t.lmHead ? [t.lmHead] : []),
  ];
  return { where, loaded, tokenizer, tokenizerConfig, tensorNames, index };
}

/**
 * The named tensors left in place for onnxruntime to read (ONNX external data), all relative to one folder (an
 * onnxruntime session has one external-data folder): the common ancestor of the folders the source gives.
 * Undefined when the source cannot give locations; its tensors are then read into JS.
 */
type InPlace = Awaited<ReturnType<typeof inPlaceTensors>>;

async function inPlaceTensors(
  source: ModelSource,
  names: readonly string[],
  index: ReadonlyMap<string, TensorInfo>,
  onProgress?: ProgressCallback,
): Promise<{ dir: string; tensors: Map<string, WeightTensor>; files: string[] } | undefined> {
  if (!source.tensorLocations || names.length === 0) return undefined;
  const locations = await source.tensorLocations(names, onProgress);
  const files = new Map(names.map((n) => [n, resolve(locations.get(n)!.dir, locations.get(n)!.location)]));
  let dir = dirname(files.get(names[0]!)!);
  const under = (f: string): boolean => f.startsWith(dir.endsWith(sep) ? dir : dir + sep);
  while (![...files.values()].every(under)) dir = dirname(dir); // ends at the root at worst
  const tensors = new Map<string, WeightTensor>();
  for (const n of names) {
    const at = {
      dir,
      location: relative(dir, files.get(n)!).split(sep).join('/'),
      offset: locations.get(n)!.offset,
    };
    tensors.set(n, { info: index.get(n)!, at });
  }
  return { dir, tensors, files: [...new Set(files.values())] };
}

/** The session cache LoadOptions.sessionCache asks for (default: from the environment). */
function sessionCacheOf(opt: string | false | undefined): SessionCache | null {
  if (opt === false) return null;
  return opt === undefined ? SessionCache.fromEnv() : new SessionCache(opt);
}

/** Index of the first NaN or infinity in `a`, or -1. */
function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/** Throws NonFiniteError naming the stage and its likely cause when `a` holds a NaN or infinity. */
function checkFinite(a: Float32Array, stageName: string, what: string, cause: string, where: string): void {
  const i = firstNonFinite(a);
  if (i < 0) return;
  throw new NonFiniteError(
    stageName,
    `${where}: ${what} holds ${a[i]} (at element ${i}) after the ${stageName} stage`,
    {
      hint: `likely cause: ${cause}`,
    },
  );
}

const EXCLUDE_KINDS = ['special', 'bytes'] as const;

/** What the deep lens needs after loading: the source again (decoder layers are read per run) and the tokenizer. */
interface DeepContext {
  reopen: () => Promise<ModelSource>;
  index: ReadonlyMap<string, TensorInfo>;
  tokenizerJson: Uint8Array;
  tokenizerConfig: Json;
  device?: Device;
}

/** Default words per token and lens in the deep lens. */
export const DEEP_DEFAULT_K = 5;

/** Which model made a features object, so that features are never read against another model's vocabulary. */
const featuresOwner = new WeakMap<ImageFeatures, ModelInfo>();

export class Model implements ImgTokensModel {
  private closed = false;
  private constructor(
    readonly info: ModelInfo,
    readonly family: LoadedFamily,
    private readonly vision: Session,
    private readonly extra: ReadonlyMap<string, Float32Array>,
    readonly lensEngine: LensEngine,
    readonly vocab: Vocab,
    private readonly deepCtx: DeepContext,
    private readonly onProgress?: ProgressCallback,
  ) {}

  /** Loads a model from a local HF directory or a hub id (`org/name[@revision]`). */
  static async load(model: string, opts: LoadOptions = {}): Promise<Model> {
    const onProgress = opts.onProgress;
    const source = await openSource(model, { ...opts.hub, revision: opts.revision, onProgress });
    try {
      const plan = await planModel(source, onProgress, opts.imageBackend, opts.reference);
      const { loaded, where } = plan;
      const vocab = Vocab.fromTokenizerJson(plan.tokenizer, loaded.text.vocabSize, plan.tokenizerConfig);
      const visionNames = loaded.visionTensorNames();
      const extraNames = loaded.extraTensorNames();
      const t = loaded.text;
      const sessionCache = sessionCacheOf(opts.sessionCache);
      const reportCache = (s: Session, what: string): void => {
        if (s.cacheStatus === 'rebuilt')
          onProgress?.({
            status: 'notice',
            message: `the cached ${what} could not be used (${s.cacheProblem ?? 'onnxruntime refused it'}); rebuilt it`,
          });
      };

      // The lens matrices are not read into JS: onnxruntime reads them in place when the lens first needs them,
      // or, from a source without tensorLocations, their stored F16/BF16 bytes go to the lens as they are (no
      // fp32 copy in JS). With opts.prepareLens and the matrices in place, the lens starts first, in its own
      // thread (src/lens/thread.ts), and builds its sessions while this thread builds the vision session.
      const matrixNames = [t.embed, ...(t.lmHead ? [t.lmHead] : [])];
      const prepareLens = opts.prepareLens ?? [];
      const early =
        prepareLens.length > 0
          ? await inPlaceTensors(source, matrixNames, plan.index, onProgress)
          : undefined;
      const prepack = opts.prepackWeights ?? true;
      const startLens = async (
        matricesInPlace: InPlace,
      ): Promise<{ lens: LensEngine; extra: Map<string, Float32Array> }> => {
        const readNames = plan.tensorNames.filter(
          (n) => !visionNames.includes(n) && !(matricesInPlace && matrixNames.includes(n)),
        );
        const tensors: Map<string, WeightTensor> = await source.readTensors(readNames, onProgress);
        for (const [n, w] of matricesInPlace?.tensors ?? []) tensors.set(n, w);
        const f32 = (n: string): Float32Array => tensorToFloat32(tensors.get(n) as RawTensor);
        const extra = new Map(extraNames.map((n) => [n, f32(n)]));
        const init = {
          embed: tensors.get(t.embed)!,
          lmHead: t.lmHead ? tensors.get(t.lmHead)! : null,
          normWeight: f32(t.norm),
          rmsEps: t.rmsEps,
          vocab: t.vocabSize,
          hidden: t.hidden,
          normKind: t.normKind,
          embedScale: t.embedScale,
          device: opts.device,
          prepack,
          sealInBackground: true,
          cacheLabel: model,
        };
        const lens = await stage(onProgress, 'build.lens', 'preparing the vocabulary matrices', () =>
          prepareLens.length > 0
            ? LensThread.start({ ...init, sessionCacheDir: sessionCache?.dir ?? null })
            : Lens.create({ ...init, sessionCache }),
        );
        tensors.clear();
        if (prepareLens.length > 0) {
          // Errors surface at the first lens call (the same promise chain in the thread); none is lost here.
          lens.prepare(prepareLens).catch(() => undefined);
        }
        return { lens, extra };
      };
      const started = early ? await startLens(early) : undefined;

      // The vision session is built before the text matrices are read (when they are read at all), so that its
      // build (the model bytes, onnxruntime's copy, its fp32 casts and pre-packed weights) never sits beside them.
      // onnxruntime reads the weights in place (external data) from a local directory's safetensors or, for a hub
      // model, from the verified ranges in the tensor cache: JS holds neither the tensors nor a second copy of
      // them in the model bytes. llava-1.5-7b on the 2-core dev machine: the vision build alone peaks at 1.53 GB
      // instead of 3.58 GB; peak RSS by the end of loading 4.11 -> 3.30 GB, load 7.7 -> 4.6 s.
      const visionInPlace = await inPlaceTensors(source, visionNames, plan.index, onProgress);
      const visionTensors: Map<string, WeightTensor> =
        visionInPlace?.tensors ?? (await source.readTensors(visionNames, onProgress));
      const vision = await stage(onProgress, 'build.vision', 'building the vision graph', () => {
        const graph = loaded.buildVisionGraph(visionTensors);
        visionTensors.clear(); // let the raw bytes go once they are in the graph
        return Session.create(graph, {
          device: opts.device,
          prepack,
          sealInBackground: true,
          externalDataDir: visionInPlace?.dir,
          cache: sessionCache,
          externalFiles: visionInPlace?.files,
          cacheLabel: `vision ${model}`,
        });
      });
      reportCache(vision, 'vision graph');
      const { lens, extra } =
        started ?? (await startLens(await inPlaceTensors(source, matrixNames, plan.index, onProgress)));
      const info: ModelInfo = {
        id: model,
        modelType: loaded.modelType,
        revision: source instanceof HubSource ? source.revision : undefined,
        vocabSize: t.vocabSize,
        hidden: t.hidden,
        views: loaded.views,
        ...(loaded.imageBackend ? { imageBackend: loaded.imageBackend } : {}),
        reference: opts.reference ?? 'v5',
      };
      onProgress?.({ status: 'ready', task: 'load', label: `model ${where} ready` });
      const deepCtx: DeepContext = {
        reopen: () => openSource(model, { ...opts.hub, revision: opts.revision, onProgress }),
        index: plan.index,
        tokenizerJson: plan.tokenizer,
        tokenizerConfig: plan.tokenizerConfig,
        device: opts.device,
      };
      return new Model(info, loaded, vision, extra, lens, vocab, deepCtx, onProgress);
    } finally {
      await source.close?.();
    }
  }

  /** Decodes and preprocesses an image (no model compute): the first half of encode. */
  async prepare(image: ImageInput, opts: EncodeOptions = {}): Promise<PreparedImage> {
    this.assertOpen('prepare');
    return this.prepareDecoded(
      await loadImage(image, { exifTranspose: opts.exifTranspose, name: opts.name }),
      opts,
    );
  }

  /**
   * Preprocesses an image decoded with loadImage (src/image/decode.ts). A caller can start the decode before
   * loading the model: sharp decodes on libuv's threads while onnxruntime builds the sessions on this one.
   */
  async prepareDecoded(decoded: DecodedImage, opts: EncodeOptions = {}): Promise<PreparedImage> {
    this.assertOpen('prepare');
    const onProgress = opts.onProgress ?? this.onProgress;
    opts.signal?.throwIfAborted();
    for (const n of decoded.notices) onProgress?.({ status: 'notice', message: n });
    const rgb = decoded.image;
    const pre = await stage(onProgress, 'preprocess', 'preprocessing', () => {
      try {
        return preprocessImage(rgb, this.family.processor);
      } catch (e) {
        // A typed array too long to allocate: the processor's sizes are out of range (a safety net behind
        // checkProcessorSizes at load).
        if (e instanceof RangeError) {
          throw new TooLargeError(
            `${this.info.id}: preprocessing this image needs more memory than allowed`,
            {
              hint: 'check size / crop_size / image_grid_pinpoints in preprocessor_config.json and config.json',
              cause: e,
            },
          );
        }
        throw e;
      }
    });
    checkFinite(
      pre.pixelValues,
      'preprocess',
      'pixel_values',
      'image_mean / image_std in preprocessor_config.json (a zero or non-finite std divides by zero)',
      this.info.id,
    );
    return { rgb, pre };
  }

  /** Runs the vision tower and projector on a prepared image and packs the result: the second half of encode. */
  async encodePrepared(prepared: PreparedImage, opts: EncodeOptions = {}): Promise<ImageFeatures> {
    this.assertOpen('encode');
    opts.signal?.throwIfAborted();
    const onProgress = opts.onProgress ?? this.onProgress;
    const { rgb, pre } = prepared;
    const inputs = this.family.visionInputs(pre);
    const [crops, tokens] = inputs.cropShape;
    const label = `vision tower (${crops} crop${crops > 1 ? 's' : ''})`;
    const out = await stage(onProgress, 'vision', label, () =>
      runVision(this.vision, inputs, { where: this.info.id, task: 'vision', label, onProgress }),
    );
    const crop = out.f32(FEATURES_OUTPUT, [crops, tokens, this.info.hidden]);
    checkFinite(
      crop.data,
      'vision',
      'the vision tower + projector output (crop_features)',
      'NaN/Inf in the vision or projector weights, or an invalid config value such as a layer_norm_eps <= 0',
      this.info.id,
    );
    opts.signal?.throwIfAborted();
    const layout = this.family.layout(pre);
    const features = this.family.pack(crop.data, pre, layout, this.extra);
    checkFinite(features, 'pack', 'the packed image features', 'NaN/Inf in image_newline', this.info.id);
    // Vision outputs the decoder adds at the image positions (Qwen3-VL DeepStack), packed like the features.
    const injections = (this.family.language?.injections ?? []).map((j) => {
      const o = out.f32(j.output); // [crops, tokens, hidden] or [crops * tokens, hidden]
      if (o.data.length !== crops * tokens * this.info.hidden) {
        throw new CheckpointError(
          `${this.info.id}: vision output ${j.output} is [${o.shape.join(', ')}], expected ${crops * tokens} x ${this.info.hidden}`,
        );
      }
      return { beforeLayer: j.beforeLayer, features: this.family.pack(o.data, pre, layout, this.extra) };
    });
    const result: ImageFeatures = {
      image: { width: rgb.width, height: rgb.height },
      pixelValues: pre.pixelValues,
      pixelShape: [...pre.shape],
      ...(this.family.processorShape ? { processorShape: this.family.processorShape(pre) } : {}),
      cropFeatures: crop.data,
      cropShape: crop.shape,
      features,
      hidden: this.info.hidden,
      layout,
      rgb,
      ...(injections.length > 0 ? { injections } : {}),
    };
    featuresOwner.set(result, this.info);
    return result;
  }

  async encode(image: ImageInput, opts: EncodeOptions = {}): Promise<ImageFeatures> {
    return this.encodePrepared(await this.prepare(image, opts), opts);
  }

  async lens(features: ImageFeatures, opts: LensOptions): Promise<ResultJson> {
    this.assertOpen('lens');
    const exclude = opts.exclude ?? [];
    for (const x of exclude) {
      if (!(EXCLUDE_KINDS as readonly string[]).includes(x)) {
        throw new BadInputError(
          `exclude: unknown kind ${JSON.stringify(x)}; use ${EXCLUDE_KINDS.join(', ')}`,
        );
      }
    }
    this.checkFeatures(features);
    const mask = exclude.length > 0 ? this.vocab.excludeMask(exclude) : null;
    const n = features.layout.tokens.length;
    const top = await this.lensEngine.run(features.features, n, opts.method, opts.k, mask, this.onProgress);
    checkFinite(
      top.scores,
      'lens',
      `the ${opts.method} scores`,
      'NaN/Inf in the embedding, norm or lm_head weights, or a non-positive rms_norm_eps',
      this.info.id,
    );
    const tokens = features.layout.tokens.map((tok, i) => {
      const words = [];
      for (let j = 0; j < top.k; j++) {
        const id = top.ids[i * top.k + j];
        if (id < 0) continue; // OMP rows hold only non-zero coefficients
        const gloss = this.vocab.gloss(id);
        words.push({
          id,
          text: this.wordText(id),
          score: top.scores[i * top.k + j],
          ...(gloss ? { gloss } : {}),
        });
      }
      return {
        index: tok.index,
        kind: tok.kind,
        view: tok.view,
        row: tok.row,
        col: tok.col,
        box: tok.box,
        top: words,
      };
    });
    return {
      schema: 'imgtokens.result/1',
      model: {
        id: this.info.id,
        modelType: this.info.modelType,
        ...(this.info.revision ? { revision: this.info.revision } : {}),
        vocabSize: this.info.vocabSize,
        hidden: this.info.hidden,
        ...(this.info.imageBackend ? { imageBackend: this.info.imageBackend } : {}),
      },
      image: { ...features.image },
      method: opts.method,
      k: opts.k,
      exclude,
      views: features.layout.views,
      tokens,
      ...(features.layout.specials?.length ? { specials: features.layout.specials } : {}),
    };
  }

  /**
   * The word stored in results: tokenizer.decode([id]) (special tokens kept, no clean-up), except byte-fallback
   * pieces, which decode to U+FFFD on their own and are shown as their piece (<0xE5>) so nothing is lost.
   */
  wordText(id: number): string {
    return this.vocab.isByte(id) ? this.vocab.display(id) : this.vocab.text(id);
  }

  async analyze(
    image: ImageInput,
    opts: LensOptions & EncodeOptions & { deep?: DeepOptions },
  ): Promise<ResultJson> {
    const f = await this.encode(image, opts);
    const r = await this.lens(f, opts);
    if (opts.name) r.image.name = opts.name;
    if (opts.deep) {
      const d = await this.deep(f, {
        onProgress: opts.onProgress,
        signal: opts.signal,
        exclude: opts.exclude,
        ...opts.deep,
      });
      r.schema = 'imgtokens.result/2';
      r.deep = d.deep;
    }
    return r;
  }

  /**
   * The deep lens (src/llm/deep.ts) on features from encode(): the model's one-image prompt, its decoder layers
   * read and run one at a time, the logit lens and embedding lens at the image rows of every chosen layer, and the
   * model's own next-token top-k.
   */
  async deep(features: ImageFeatures, opts: DeepOptions = {}): Promise<DeepResult> {
    this.assertOpen('deep');
    this.checkFeatures(features);
    const onProgress = opts.onProgress ?? this.onProgress;
    const where = this.info.id;
    const lang = this.family.language;
    if (!lang) {
      throw new UnsupportedModelError(`${where}: the deep lens does not support ${this.info.modelType} yet`, {
        hint: 'the projector-level lens works for it (drop --layers)',
      });
    }
    const text = this.family.text;
    decoderLayerSpec(text, where); // refuse an unsupported decoder before any work
    const reference = opts.reference ?? this.info.reference;
    if (reference !== 'v4' && reference !== 'v5') {
      throw new BadInputError(`reference must be v4 or v5, got ${JSON.stringify(reference)}`);
    }
    if (opts.compat !== undefined && opts.compat !== 'llava-interp') {
      throw new BadInputError(`compat must be llava-interp, got ${JSON.stringify(opts.compat)}`);
    }
    if (opts.dtype !== undefined && !(WEIGHT_DTYPES as readonly string[]).includes(opts.dtype)) {
      throw new BadInputError(`dtype must be ${WEIGHT_DTYPES.join(', ')}, got ${JSON.stringify(opts.dtype)}`);
    }
    const k = opts.k ?? DEEP_DEFAULT_K;
    const exclude = opts.exclude ?? [];
    const mask = exclude.length > 0 ? this.vocab.excludeMask(exclude) : null;
    const N = text.numLayers;
    const layers =
      opts.layers === undefined || typeof opts.layers === 'string'
        ? parseLayers(opts.layers ?? 'all', N)
        : parseLayers(opts.layers.join(','), N);
    const source = await this.deepCtx.reopen();
    try {
      const readText = async (file: string): Promise<string | null> => {
        const b = await source.readFile(file);
        return b ? new TextDecoder().decode(b) : null;
      };
      const jsonFile = await readText('chat_template.json');
      let templateJson: Json | null = null;
      if (jsonFile !== null) {
        try {
          templateJson = JSON.parse(jsonFile) as Json;
        } catch (e) {
          throw new CheckpointError(`${source.description}/chat_template.json is not valid JSON`, {
            cause: e,
          });
        }
      }
      const chatTemplate = findChatTemplate({
        jinja: await readText('chat_template.jinja'),
        json: templateJson,
        tokenizerConfig: this.deepCtx.tokenizerConfig,
      });
      const rebuild =
        reference === 'v5' &&
        !lang.prompt.v5TokenizerAsWritten &&
        PromptTokenizer.isLlamaClass(this.deepCtx.tokenizerConfig);
      const tokenizer = PromptTokenizer.create(this.deepCtx.tokenizerJson, this.deepCtx.tokenizerConfig, {
        rebuildAsLlama: rebuild,
        where: source.description,
      });
      const prompt = buildPrompt({
        format: lang.prompt,
        tokenizer,
        chatTemplate,
        question: opts.prompt,
        raw: opts.rawPrompt,
        layout: features.layout,
        where: source.description,
      });
      if (prompt.source === 'family_format' && chatTemplate === null) {
        onProgress?.({
          status: 'notice',
          message: `${where}: no chat template; using ${lang.prompt.fallbackSource}`,
        });
      }
      const index = this.deepCtx.index;
      const raw = await runDeepLens({
        text,
        lang,
        lens: this.lensEngine,
        index,
        where,
        features: features.features,
        injections: features.injections,
        layout: features.layout,
        prompt,
        layers,
        k,
        compat: opts.compat,
        dtype: opts.dtype,
        excludeMask: mask,
        keepHidden: opts.keepHidden ?? false,
        // the layer's stored bytes (a hub model: range reads of just this layer, kept in the tensor cache)
        readLayer: (names) => source.readTensors(names, onProgress),
        device: this.deepCtx.device,
        onProgress,
        signal: opts.signal,
      });
      return this.deepResult(raw, prompt, { reference, compat: opts.compat, k });
    } finally {
      await source.close?.();
    }
  }

  private deepResult(
    raw: DeepRaw,
    prompt: BuiltPrompt,
    o: { reference: Reference; compat?: 'llava-interp'; k: number },
  ): DeepResult {
    const words = (top: TopK): WordScore[][] =>
      Array.from({ length: top.tokens }, (_, i) => this.topWords(top, i));
    const layers: DeepLayerJson[] = raw.layers.map((l) => ({
      layer: l.layer,
      ...(o.compat === 'llava-interp' ? { label: `Layer ${l.layer + 1}` } : {}),
      logit: words(l.logit),
      embed: words(l.embed),
    }));
    const next: WordScore[] = raw.next.map((x) => this.word(x.id, x.prob));
    const deep: DeepJson = {
      reference: o.reference,
      ...(o.compat ? { compat: o.compat } : {}),
      prompt: { text: prompt.text, ids: prompt.ids, imagePositions: prompt.imagePositions },
      numLayers: raw.numLayers,
      k: o.k,
      layers,
      next,
    };
    const n = prompt.imagePositions.length;
    const D = this.info.hidden;
    const L = raw.layers.length;
    const hiddenStates = new Float32Array(raw.layers.some((l) => l.hidden) ? L * n * D : 0);
    const lensIds = new BigInt64Array(L * n * o.k);
    const lensScores = new Float32Array(L * n * o.k);
    raw.layers.forEach((l, j) => {
      if (l.hidden) hiddenStates.set(l.hidden, j * n * D);
      lensIds.set(
        Array.from(l.logit.ids, (v) => BigInt(v)),
        j * n * o.k,
      );
      lensScores.set(l.logit.scores, j * n * o.k);
    });
    return {
      deep,
      tensors: {
        inputIds: BigInt64Array.from(prompt.ids, (v) => BigInt(v)),
        hiddenStates,
        lensIds,
        lensScores,
        finalLogits: raw.finalLogits,
        shape: { layers: L, tokens: n, hidden: D, k: o.k, seq: prompt.ids.length },
      },
      timing: { layerSeconds: raw.layerSeconds, runSeconds: raw.runSeconds },
    };
  }

  private word(id: number, score: number): WordScore {
    const gloss = this.vocab.gloss(id);
    return { id, text: this.wordText(id), score, ...(gloss ? { gloss } : {}) };
  }

  /** Row i of a top-k as words (OMP's padding ids -1 skipped). */
  private topWords(top: TopK, i: number): WordScore[] {
    const out: WordScore[] = [];
    for (let j = 0; j < top.k; j++) {
      const id = top.ids[i * top.k + j]!;
      if (id >= 0) out.push(this.word(id, top.scores[i * top.k + j]!));
    }
    return out;
  }

  /** Releases the sessions; a second call does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.vision.release();
    await this.lensEngine.release?.();
    await settleSessionCache(); // cache entries still being written (sealInBackground)
  }

  private assertOpen(what: string): void {
    if (this.closed) {
      throw new ClosedError(`${this.info.id}: ${what}() called after close()`, {
        hint: 'load the model again with loadModel() to keep using it',
      });
    }
  }

  /** Features must come from this model (or match its shapes when built by hand). */
  private checkFeatures(f: ImageFeatures): void {
    const owner = featuresOwner.get(f);
    if (owner && (owner.id !== this.info.id || owner.revision !== this.info.revision)) {
      throw new BadInputError(`these features come from ${owner.id}, not ${this.info.id}`, {
        hint: 'encode the image with the model you run the lens with',
      });
    }
    const n = f.layout.tokens.length;
    if (f.hidden !== this.info.hidden || f.features.length !== n * this.info.hidden) {
      throw new BadInputError(
        `the features are [${n}, ${f.hidden}] (${f.features.length} values) but ${this.info.id} needs [tokens, ${this.info.hidden}]`,
        { hint: 'encode the image with the model you run the lens with' },
      );
    }
  }
}

/** Loads a model once; then encode/lens/analyze many images with it. */
export function loadModel(model: string, opts: LoadOptions = {}): Promise<Model> {
  return Model.load(model, opts);
}
