/**
 * The lens: for each image token, the vocabulary entries its vector is closest to, by one of the methods of
 * the table in src/lens-methods.ts (the original tool's measures over the input embedding matrix, and the logit
 * lens over lm_head); each row says which matrix, whether the final norm comes first, and which score graph or OMP. Every row of the vocabulary is searched; an exclude mask
 * removes rows before top-k (and from OMP's atom choice).
 *
 * The products and top-k run in onnxruntime (src/lens/graphs.ts); OMP's small k×k solves run in JS
 * (src/lens/omp.ts). A Lens is built once per model: one onnxruntime projection session per matrix holds it
 * (as stored in the checkpoint, cast in-graph and prepacked; JS keeps no fp32 copy) and also gives its row
 * norms and OMP's rows; one small scoring session per measure. Sessions are created on first use, so a
 * method never used costs neither time nor memory (the logit lens's lm_head session: about 1 s and 525 MB for
 * llava-1.5-7b); a Lens can then be run on any number of images.
 *
 * Hooks for other families: `normKind: 'rms1p'` is Gemma's RMSNorm, `x / rms(x) * (1 + w)`
 * (HF GemmaRMSNorm); `embedScale` multiplies the input-embedding matrix, as Gemma's embeddings are scaled by
 * sqrt(hidden) before the decoder (PaliGemma). Neither applies to lm_head.
 */
import { resolve } from 'node:path';
import { BadInputError, MissingTensorError } from '../errors.js';
import { toFloat32 } from '../source/safetensors.js';
import type { WeightTensor } from '../source/types.js';
import type { ProgressCallback } from '../progress.js';
import { Session, type Device, type Feeds } from '../runtime/session.js';
import type { SessionCache } from '../runtime/session-cache.js';
import type { TopK } from '../types.js';
import {
  buildGramCorrGraph,
  buildProjectGraph,
  buildRmsNormGraph,
  buildScoreGraph,
  IO,
  MAX_INITIALIZER_BYTES,
  NORMALIZE_EPS,
  type ProjectMatrix,
  type ScoreKind,
} from './graphs.js';
import { lensMethod, LENS_METHODS, type LensMethod, type LensMethodRow } from '../lens-methods.js';
import { runOmp } from './omp.js';

export type NormKind = 'rms' | 'rms1p';

/** Feature rows per lens run (see Lens.scoreTopK): one llava crop, so a 576-token image is one run. */
export const LENS_CHUNK_TOKENS = 576;

/**
 * A vocabulary matrix [vocab, hidden] row-major: float32 values, or a checkpoint tensor as stored (its F32/F16/
 * BF16 bytes, or where onnxruntime reads it in place: WeightTensor.at).
 */
export type LensMatrix = Float32Array | WeightTensor;

export interface LensCreateOptions {
  /** Input embedding matrix (embed_tokens.weight), [vocab, hidden]. Used by cosine/dot/l2/omp/ompp. */
  embed: LensMatrix;
  /** lm_head.weight [vocab, hidden]; null or omitted = tied to `embed` (unscaled). */
  lmHead?: LensMatrix | null;
  /** Final norm weight (model.norm.weight) [hidden]; required for `logit`. */
  normWeight?: Float32Array | null;
  /** RMSNorm epsilon (text_config.rms_norm_eps). */
  rmsEps: number;
  vocab: number;
  hidden: number;
  /** 'rms' (Llama: w · x/rms) or 'rms1p' (Gemma: (1 + w) · x/rms). Default 'rms'. */
  normKind?: NormKind;
  /** Scale applied to `embed` rows for the embedding measures (Gemma: sqrt(hidden)). Default 1. */
  embedScale?: number;
  /**
   * Bake each matrix into its projection graph as an initializer (faster: ORT prepacks it) or feed it as an
   * input each run. Default: initializer (in-memory bytes up to 1.5 GiB per matrix, input above).
   */
  matrixAsInitializer?: boolean;
  /** onnxruntime device and intra-op threads (0/undefined = ORT's choice). */
  device?: Device;
  threads?: number;
  /** Feature rows per onnxruntime run (default LENS_CHUNK_TOKENS). */
  chunkTokens?: number;
  /** Pre-pack the matrices at session creation (SessionOptions.prepack; default true). */
  prepack?: boolean;
  /** Store new session-cache entries in the background (SessionOptions.sealInBackground; default false). */
  sealInBackground?: boolean;
  /** Keeps the projection sessions (optimised graphs, matrices cast) across processes; see Session.create. */
  sessionCache?: SessionCache | null;
  /** The model, for the cache's listing. */
  cacheLabel?: string;
  /** OMP with Batch-OMP's Gram-matrix shortcut (src/lens/omp.ts); false: one residual product per step. Default true. */
  ompGram?: boolean;
}

/** One matrix as the graphs take it; its row norms come from its projection session's first run. */
interface Matrix {
  key: 'embed' | 'head';
  name: string;
  /** As given; dropped once baked into its session (the session holds it then). */
  stored: LensMatrix | null;
  scale: number;
  /** Whether the projection also gives row norms and OMP rows (the embedding measures). */
  atoms: boolean;
  sqNorm?: Float32Array; // [vocab] |e|²
  invNorm?: Float32Array; // [vocab] 1 / max(|e|, 1e-12)
  /** Input mode: the float32 values fed each run. */
  fp32?: Float32Array;
}

function checkLength(name: string, a: Float32Array, want: number, shape: string): void {
  if (a.length !== want) {
    throw new MissingTensorError(`${name}: expected ${shape} = ${want} values, got ${a.length}`, {
      hint: 'the checkpoint does not match its config.json (vocab_size / hidden_size)',
    });
  }
}

function checkShape(name: string, m: LensMatrix, vocab: number, hidden: number): void {
  const got = m instanceof Float32Array ? `${m.length} values` : JSON.stringify(m.info.shape);
  const ok =
    m instanceof Float32Array
      ? m.length === vocab * hidden
      : m.info.shape.length === 2 && m.info.shape[0] === vocab && m.info.shape[1] === hidden;
  if (!ok) {
    throw new MissingTensorError(`${name}: expected [${vocab}, ${hidden}], got ${got}`, {
      hint: 'the checkpoint does not match its config.json (vocab_size / hidden_size)',
    });
  }
}

/** The method's row of the table (src/lens-methods.ts); BadInputError for an unknown one. */
function methodRow(method: LensMethod): LensMethodRow {
  const row = lensMethod(method);
  if (!row) {
    throw new BadInputError(`unknown lens method ${String(method)}`, {
      hint: `choose one of ${LENS_METHODS.join(', ')}`,
    });
  }
  return row;
}

/**
 * What the model and the deep lens use of a lens: Lens itself, or LensThread (src/lens/thread.ts), the same lens in
 * a worker thread of its own.
 */
export interface LensEngine {
  readonly vocab: number;
  readonly hidden: number;
  /** Batch-OMP on (see LensCreateOptions.ompGram). */
  ompGram: boolean;
  /** Builds the sessions `methods` need now rather than on first use (each method's matrix once). */
  prepare(methods: readonly LensMethod[]): Promise<void>;
  /** Lens.run, Lens.embeddingRows and Lens.finalNorm, as documented there. */
  run: Lens['run'];
  embeddingRows: Lens['embeddingRows'];
  finalNorm: Lens['finalNorm'];
  release(): Promise<void>;
}

export class Lens implements LensEngine {
  readonly vocab: number;
  readonly hidden: number;
  private readonly embed: Matrix;
  private readonly lmHead: Matrix;
  private readonly normWeight: Float32Array | null;
  private readonly rmsEps: number;
  private readonly device: Device;
  private readonly threads?: number;
  private readonly asInitializer?: boolean;
  private readonly chunkTokens: number;
  private readonly prepack: boolean;
  private readonly sealInBackground: boolean;
  private readonly sessionCache: SessionCache | null;
  private readonly cacheLabel: string;
  /** Batch-OMP on (see LensCreateOptions.ompGram); settable, for the bench to time both paths on one session. */
  ompGram: boolean;
  private readonly sessions = new Map<string, Promise<Session>>();

  private constructor(o: LensCreateOptions) {
    const { vocab: V, hidden: D } = o;
    if (!Number.isInteger(V) || V <= 0 || !Number.isInteger(D) || D <= 0) {
      throw new BadInputError(`lens: vocab (${V}) and hidden (${D}) must be positive integers`);
    }
    this.vocab = V;
    this.hidden = D;
    this.rmsEps = o.rmsEps;
    this.device = o.device ?? 'cpu';
    this.threads = o.threads;
    this.asInitializer = o.matrixAsInitializer;
    this.chunkTokens = o.chunkTokens ?? LENS_CHUNK_TOKENS;
    this.sessionCache = o.sessionCache ?? null;
    this.prepack = o.prepack ?? true;
    this.sealInBackground = o.sealInBackground ?? false;
    this.cacheLabel = o.cacheLabel ?? 'lens';
    this.ompGram = o.ompGram ?? true;
    checkShape('embed_tokens.weight', o.embed, V, D);
    const scale = o.embedScale ?? 1;
    this.embed = { key: 'embed', name: 'embed_tokens.weight', stored: o.embed, scale, atoms: true };
    if (o.lmHead) {
      checkShape('lm_head.weight', o.lmHead, V, D);
      this.lmHead = { key: 'head', name: 'lm_head.weight', stored: o.lmHead, scale: 1, atoms: false };
    } else {
      this.lmHead =
        scale === 1
          ? this.embed // tied: the same matrix and the same onnxruntime session
          : { key: 'head', name: 'lm_head.weight (tied)', stored: o.embed, scale: 1, atoms: false };
    }
    if (o.normWeight) {
      checkLength('norm.weight', o.normWeight, D, `[${D}]`);
      this.normWeight = o.normKind === 'rms1p' ? o.normWeight.map((w) => 1 + w) : o.normWeight;
    } else {
      this.normWeight = null;
    }
  }

  /** Checks the matrices' shapes; sessions are created on first use of a measure. */
  static create(opts: LensCreateOptions): Lens {
    return new Lens(opts);
  }

  /**
   * The session for `key`, built by `build` on first use (reading external data from `externalDataDir`, in
   * `externalFiles`); `cached`: through the session cache (the projections, whose build is the matrix's cast and
   * pre-packing; the small score graphs build faster than a cache lookup).
   */
  private session(
    key: string,
    build: () => Uint8Array,
    cache?: { externalDataDir?: string; externalFiles?: string[] },
  ): Promise<Session> {
    let s = this.sessions.get(key);
    if (!s) {
      s = Session.create(build(), {
        device: this.device,
        intraOpThreads: this.threads,
        prepack: this.prepack,
        sealInBackground: this.sealInBackground,
        externalDataDir: cache?.externalDataDir,
        externalFiles: cache?.externalFiles,
        cache: cache ? this.sessionCache : null,
        cacheLabel: `lens ${key} ${this.cacheLabel}`,
      });
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Builds the sessions `methods` need now (projection, score graph, final norm); unknown methods are refused. */
  async prepare(methods: readonly LensMethod[]): Promise<void> {
    const rows = methods.map(methodRow);
    const pending: Array<Promise<Session>> = [];
    for (const row of rows) {
      pending.push(this.projectSession(row.matrix === 'embed_tokens' ? this.embed : this.lmHead));
      const run = row.run;
      const scores: ScoreKind[] = run.kind === 'score' ? [run.score] : ['corr'];
      for (const kind of scores) {
        pending.push(this.session(`score.${kind}`, () => buildScoreGraph(kind, this.vocab, this.hidden)));
      }
      if (run.kind === 'omp' && this.ompGram) {
        pending.push(this.session('score.gramcorr', () => buildGramCorrGraph(this.vocab)));
      }
      if (run.kind === 'score' && run.finalNorm && this.normWeight) {
        pending.push(this.session('rmsnorm', () => buildRmsNormGraph(this.hidden, this.rmsEps)));
      }
    }
    await Promise.all(pending);
  }

  /** How matrix `m` enters its projection graph (see MAX_INITIALIZER_BYTES). */
  private projectMatrix(m: Matrix): ProjectMatrix {
    const st = m.stored;
    if (!st) throw new Error(`lens: ${m.name} was released`);
    if (st instanceof Float32Array) {
      const bytes = new Uint8Array(st.buffer, st.byteOffset, st.byteLength);
      const inline = this.asInitializer ?? bytes.byteLength <= MAX_INITIALIZER_BYTES;
      return inline ? { kind: 'initializer', data: bytes, dtype: 'F32' } : { kind: 'input' };
    }
    const { info } = st;
    if (!st.bytes) {
      const ext = { location: st.at.location, offset: st.at.offset, length: info.end - info.begin };
      return { kind: 'initializer', data: ext, dtype: info.dtype }; // no protobuf size limit: always baked
    }
    const inline = this.asInitializer ?? st.bytes.byteLength <= MAX_INITIALIZER_BYTES;
    return inline ? { kind: 'initializer', data: st.bytes, dtype: info.dtype } : { kind: 'input' };
  }

  /** The projection session of `m`; an initializer matrix is dropped from JS once the session holds it. */
  private projectSession(m: Matrix): Promise<Session> {
    const st = m.stored; // null once the session is built
    const inPlace = st && !(st instanceof Float32Array) && !st.bytes ? st.at : undefined;
    const cache = inPlace
      ? { externalDataDir: inPlace.dir, externalFiles: [resolve(inPlace.dir, inPlace.location)] }
      : undefined;
    return this.session(
      `project.${m.key}`,
      () => {
        const pm = this.projectMatrix(m);
        const bytes = buildProjectGraph(m.key, this.vocab, this.hidden, pm, {
          scale: m.scale,
          atoms: m.atoms,
        });
        if (pm.kind === 'input') {
          const st = m.stored!; // input mode keeps float32 values in JS (as stored, then scaled in-graph)
          m.fp32 = st instanceof Float32Array ? st : toFloat32(st.bytes!, st.info.dtype);
        }
        m.stored = null;
        return bytes;
      },
      cache,
    );
  }

  /** Feeds every projection run takes besides the features. */
  private matrixFeeds(m: Matrix, atoms: BigInt64Array): Feeds {
    const feeds: Feeds = {};
    if (m.fp32) feeds[IO.matrix] = { data: m.fp32, shape: [this.vocab, this.hidden] };
    if (m.atoms) feeds[IO.atoms] = { data: atoms, shape: [atoms.length] };
    return feeds;
  }

  /** 0 for kept rows, -inf for excluded ones. */
  private bias(excludeMask: Uint8Array | null | undefined): Float32Array {
    const b = new Float32Array(this.vocab);
    if (!excludeMask) return b;
    if (excludeMask.length !== this.vocab) {
      throw new BadInputError(`exclude mask has ${excludeMask.length} entries, the vocabulary ${this.vocab}`);
    }
    for (let v = 0; v < this.vocab; v++) if (excludeMask[v]) b[v] = -Infinity;
    return b;
  }

  /** X·Eᵀ [tokens, vocab] for matrix `m`, in onnxruntime; the first run also keeps the row norms. */
  private async project(m: Matrix, features: Float32Array, tokens: number): Promise<Float32Array> {
    const s = await this.projectSession(m);
    const feeds: Feeds = {
      [IO.features]: { data: features, shape: [tokens, this.hidden] },
      ...this.matrixFeeds(m, new BigInt64Array(0)),
    };
    const fetch: string[] = [IO.product];
    if (m.atoms && !m.sqNorm) fetch.push(IO.sqNorm);
    const out = await s.run(feeds, fetch);
    if (m.atoms && !m.sqNorm) {
      const sq = out.f32(IO.sqNorm, [this.vocab]).data;
      m.sqNorm = sq;
      m.invNorm = sq.map((v) => 1 / Math.max(Math.sqrt(v), NORMALIZE_EPS));
    }
    return out.f32(IO.product, [tokens, this.vocab]).data;
  }

  /** Rows `ids` of the embedding matrix (scaled), [ids.length, hidden]: OMP's atoms. */
  private async rows(ids: readonly number[]): Promise<Float32Array> {
    const m = this.embed;
    const s = await this.projectSession(m);
    const feeds: Feeds = {
      [IO.features]: { data: new Float32Array(0), shape: [0, this.hidden] }, // no product wanted
      ...this.matrixFeeds(
        m,
        BigInt64Array.from(ids, (v) => BigInt(v)),
      ),
    };
    return (await s.run(feeds, [IO.rows])).f32(IO.rows, [ids.length, this.hidden]).data;
  }

  /** The final norm of the logit lens, in onnxruntime. */
  private async rmsNorm(features: Float32Array, tokens: number): Promise<Float32Array> {
    if (!this.normWeight) {
      throw new MissingTensorError('the logit lens needs the final norm weight (model.norm.weight)', {
        hint: 'pass normWeight to Lens.create, or use method logit-raw',
      });
    }
    const s = await this.session('rmsnorm', () => buildRmsNormGraph(this.hidden, this.rmsEps));
    const out = await s.run({
      [IO.features]: { data: features, shape: [tokens, this.hidden] },
      [IO.normWeight]: { data: this.normWeight, shape: [this.hidden] },
    });
    return out.f32(IO.normed, [tokens, this.hidden]).data;
  }

  /**
   * Scores of one measure over matrix `m`, plus bias, then top-k, all in onnxruntime; at most
   * `chunkTokens` rows per run. Every row is scored independently, so chunks change no result; they bound
   * the [tokens, vocab] products and score temporaries (llava-v1.6's 2340 tokens: 300 MB each, several alive at
   * once, held in onnxruntime's arenas afterwards) to one llava crop's worth (576 tokens, 74 MB).
   */
  private async scoreTopK(
    kind: ScoreKind,
    m: Matrix,
    features: Float32Array,
    tokens: number,
    k: number,
    bias: Float32Array,
  ): Promise<{ ids: Int32Array; scores: Float32Array }> {
    const D = this.hidden;
    const ids = new Int32Array(tokens * k);
    const scores = new Float32Array(tokens * k);
    for (let t0 = 0; t0 < tokens; t0 += this.chunkTokens) {
      const n = Math.min(this.chunkTokens, tokens - t0);
      const x = features.subarray(t0 * D, (t0 + n) * D); // [n, D]
      const top = await this.scoreTopKChunk(kind, m, x, n, k, bias);
      ids.set(top.ids, t0 * k);
      scores.set(top.scores, t0 * k);
    }
    return { ids, scores };
  }

  private async scoreTopKChunk(
    kind: ScoreKind,
    m: Matrix,
    features: Float32Array,
    tokens: number,
    k: number,
    bias: Float32Array,
  ): Promise<{ ids: Int32Array; scores: Float32Array }> {
    const product = await this.project(m, features, tokens); // [T, V]
    const s = await this.session(`score.${kind}`, () => buildScoreGraph(kind, this.vocab, this.hidden));
    const feeds: Feeds = {
      [IO.product]: { data: product, shape: [tokens, this.vocab] },
      [IO.bias]: { data: bias, shape: [this.vocab] },
      [IO.k]: { data: BigInt64Array.of(BigInt(k)), shape: [1] },
    };
    if (kind === 'cosine' || kind === 'l2')
      feeds[IO.features] = { data: features, shape: [tokens, this.hidden] };
    if (kind === 'cosine') feeds[IO.invNorm] = { data: m.invNorm!, shape: [this.vocab] };
    if (kind === 'l2') feeds[IO.sqNorm] = { data: m.sqNorm!, shape: [this.vocab] };
    const out = await s.run(feeds);
    const ids = Int32Array.from(out.i64(IO.ids, [tokens, k]).data, (v) => Number(v));
    return { ids, scores: out.f32(IO.values, [tokens, k]).data };
  }

  /**
   * Top-k vocabulary entries for each of `tokens` feature rows ([tokens, hidden] row-major).
   * Scores: cosine similarity, dot product, -L2/sqrt(hidden), OMP coefficient, or logit.
   * `excludeMask` [vocab] (1 = drop; see Vocab.excludeMask) is applied before top-k and OMP's atom choice.
   * For omp/ompp a row holds only non-zero coefficients, sorted descending (negative ones last); the rest of
   * the row is padding with id -1 and score 0.
   */
  async run(
    features: Float32Array,
    tokens: number,
    method: LensMethod,
    k: number,
    excludeMask?: Uint8Array | null,
    onProgress?: ProgressCallback,
  ): Promise<TopK> {
    const D = this.hidden;
    if (!Number.isInteger(tokens) || tokens <= 0 || features.length !== tokens * D) {
      throw new BadInputError(`lens: features have ${features.length} values, expected [${tokens}, ${D}]`);
    }
    const bias = this.bias(excludeMask);
    let kept = 0;
    for (let v = 0; v < this.vocab; v++) if (bias[v] === 0) kept++;
    if (!Number.isInteger(k) || k < 1 || k > kept) {
      throw new BadInputError(
        `k must be an integer in [1, ${kept}] (vocabulary rows left after exclusion), got ${k}`,
      );
    }
    const row = methodRow(method);
    const matrix = row.matrix === 'embed_tokens' ? this.embed : this.lmHead;
    const run = row.run;
    if (run.kind === 'score') {
      const x = run.finalNorm ? await this.rmsNorm(features, tokens) : features; // [T, D]
      return { k, tokens, ...(await this.scoreTopK(run.score, matrix, x, tokens, k, bias)) };
    }
    if (matrix !== this.embed) throw new BadInputError(`lens method ${method}: OMP runs over embed_tokens`);
    const task = `lens.${method}`;
    const label = method.toUpperCase();
    // Tokens are independent: OMP runs one chunk of tokens at a time, which bounds α⁰ and the Gram rows.
    const chunk = this.ompGram && !run.newestOnly ? this.chunkTokens : tokens;
    const chunks = Math.ceil(tokens / chunk);
    onProgress?.({ status: 'initiate', task, label, total: k * chunks, unit: 'items' });
    const t0 = performance.now();
    const ids = new Int32Array(tokens * k);
    const scores = new Float32Array(tokens * k);
    for (let c = 0; c < chunks; c++) {
      const from = c * chunk;
      const n = Math.min(chunk, tokens - from);
      const r = await runOmp({
        features: features.subarray(from * D, (from + n) * D),
        tokens: n,
        hidden: D,
        rows: (ids) => this.rows(ids),
        k,
        newestOnly: run.newestOnly,
        correlate: async (res, m, width) =>
          (await this.scoreTopK('corr', this.embed, res, m, width, bias)).ids,
        gram: this.ompGram
          ? {
              project: (rows, m) => this.project(this.embed, rows, m),
              correlate: (alpha0, coefs, rows, m, atoms, width) =>
                this.gramCorrelate(alpha0, coefs, rows, m, atoms, width, bias),
              vocab: this.vocab,
            }
          : undefined,
        onStep: (done) =>
          onProgress?.({
            status: 'progress',
            task,
            label,
            done: c * k + done,
            total: k * chunks,
            unit: 'items',
          }),
      });
      ids.set(r.ids, from * k);
      scores.set(r.coefs, from * k);
    }
    onProgress?.({ status: 'done', task, label, seconds: (performance.now() - t0) / 1000 });
    return { k, tokens, ids, scores };
  }

  /** Batch-OMP's candidates: top `width` of |α⁰ - C·G| + bias (with no Gram rows yet, of |α⁰| + bias). */
  private async gramCorrelate(
    alpha0: Float32Array,
    coefs: Float32Array,
    rows: Float32Array,
    tokens: number,
    atoms: number,
    width: number,
    bias: Float32Array,
  ): Promise<Int32Array> {
    const V = this.vocab;
    const feeds: Feeds = {
      [IO.product]: { data: alpha0, shape: [tokens, V] },
      [IO.bias]: { data: bias, shape: [V] },
      [IO.k]: { data: BigInt64Array.of(BigInt(width)), shape: [1] },
    };
    let s: Session;
    if (atoms === 0) {
      s = await this.session('score.corr', () => buildScoreGraph('corr', V, this.hidden));
    } else {
      s = await this.session('score.gramcorr', () => buildGramCorrGraph(V));
      feeds[IO.gramCoefs] = { data: coefs, shape: [tokens, atoms] };
      feeds[IO.gramRows] = { data: rows, shape: [atoms, V] };
    }
    const out = await s.run(feeds, [IO.ids]);
    return Int32Array.from(out.i64(IO.ids, [tokens, width]).data, (v) => Number(v));
  }

  /**
   * Rows `ids` of the input-embedding matrix times its scale (Gemma: sqrt(hidden)), [ids.length, hidden]: what
   * the language model's embedding layer gives for those token ids (the deep lens's text rows of layer 0).
   */
  async embeddingRows(ids: readonly number[]): Promise<Float32Array> {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocab) {
        throw new BadInputError(`token id ${id} is outside the vocabulary [0, ${this.vocab})`);
      }
    }
    if (ids.length === 0) return new Float32Array(0);
    return this.rows(ids);
  }

  /** The model's final norm (model.norm) on [tokens, hidden] rows, as the logit lens applies it. */
  async finalNorm(features: Float32Array, tokens: number): Promise<Float32Array> {
    if (features.length !== tokens * this.hidden) {
      throw new BadInputError(`finalNorm: ${features.length} values, expected [${tokens}, ${this.hidden}]`);
    }
    return this.rmsNorm(features, tokens);
  }

  /** Frees the onnxruntime sessions. */
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }
}
