/**
 * The deep lens: the language model run on the model's own one-image prompt, one decoder layer at a time, with
 * the logit lens and the embedding lens read at the image positions of every chosen layer.
 *
 * Streaming: the decoder layer is one ONNX graph (src/graph/decoder.ts) whose weights are graph INPUTS, built into
 * one onnxruntime session per layer shape (every layer of a model, usually) and kept for the run. Each layer's
 * tensors are planned (names and shapes checked against the index), read (LayerReader: the bytes of just that layer,
 * e.g. hub range reads into the tensor cache), fed to the session once for the whole prompt and dropped before the
 * next layer, so memory stays near one layer plus the [seq, hidden] activations. (A session per layer with the
 * weights as initializers spent 2-3.5 s per llava-1.5-7b layer on the F16 cast and prepacking alone.)
 *
 * Layer numbering and the lens follow HF's `output_hidden_states` (transformers 4.45.1 LlamaModel.forward; 5.x
 * the same, see ../shared/fixtures-deep/README.md "What each hidden-state index holds"):
 *   hidden_states[0]      = inputs_embeds (text rows embed_tokens[id] · embed scale, image rows the features)
 *   hidden_states[L], L<N = the raw output of decoder layer L-1 (the residual stream, not normed)
 *   hidden_states[N]      = model.norm(output of the last layer): ALREADY normed.
 *   lens(L) = lm_head(norm(hidden_states[L])) for L < N and lm_head(hidden_states[N]) at N (the model's own logits):
 *   the final norm is applied once, never twice. `compat: 'llava-interp'` applies it again at N, as
 *   clemneo/llava-interp's lvlm_lens.py does (its "Layer i+1" is hidden_states[i]).
 * The embedding lens is cosine similarity of hidden_states[L] with embed_tokens (the lens's 'cosine' method).
 * All products and top-k run in the Lens's onnxruntime graphs (src/lens).
 */
import { BadInputError, NonFiniteError, UnsupportedModelError } from '../errors.js';
import { GraphBuilder } from '../graph/builder.js';
import { linear } from '../graph/blocks.js';
import {
  attentionMask,
  buildDecoderLayer,
  buildRopeGraph,
  DECODER_IO,
  decoderNorm,
  ropeRows,
  type DecoderLayerSpec,
} from '../graph/decoder.js';
import { quantSpecOf, type QuantSpec, type WeightDType } from '../graph/quant.js';
import { inputWeights, loadWeights, planWeights, type WeightInput } from '../graph/weights.js';
import type { LensEngine } from '../lens/index.js';
import type { ProgressCallback } from '../progress.js';
import { Session, type Device, type SessionOutputs } from '../runtime/session.js';
import { toFloat32 } from '../source/safetensors.js';
import type { RawTensor, TensorInfo } from '../source/types.js';
import type { NamedTensor } from '../runtime/session.js';
import { decoderLayerPrefix, type TextSpec } from '../text/tensors.js';
import type { TokenLayout, TopK } from '../types.js';
import type { BuiltPrompt } from './prompt.js';
import type { LanguageSide } from './spec.js';

/** Reads one layer's tensors (checkpoint names) as stored bytes. */
export type LayerReader = (names: string[], layer: number) => Promise<ReadonlyMap<string, RawTensor>>;

export type DeepCompat = 'llava-interp';
export type DeepReference = 'v4' | 'v5';

export interface DeepRunArgs {
  text: TextSpec;
  lang: LanguageSide;
  lens: LensEngine;
  index: ReadonlyMap<string, TensorInfo>;
  where: string;
  /** What the LLM receives for the image, [n, hidden] (rows of image_features). */
  features: Float32Array;
  /** Vectors added at the image positions to the input of decoder layer `beforeLayer` (Qwen3-VL DeepStack). */
  injections?: ReadonlyArray<{ beforeLayer: number; features: Float32Array }>;
  layout: TokenLayout;
  prompt: BuiltPrompt;
  /** hidden_states indices to read, ascending, each in [0, numLayers]. */
  layers: readonly number[];
  k: number;
  compat?: DeepCompat;
  excludeMask?: Uint8Array | null;
  /** Keep hidden_states[L] at the image rows of every chosen layer (for --dump-tensors). */
  keepHidden?: boolean;
  readLayer: LayerReader;
  /**
   * 'q8' / 'q4': the opt-in weight-only quantized linears (src/graph/quant.ts), quantized at layer load into a
   * session of their own per layer (constant weights, prepacked); default fp32, exact, through the shared session.
   */
  dtype?: WeightDType;
  device?: Device;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface DeepLayerRaw {
  layer: number;
  logit: TopK;
  embed: TopK;
  /** hidden_states[layer] at the image rows, [n, hidden] (keepHidden only). */
  hidden?: Float32Array;
}

export interface DeepRaw {
  numLayers: number;
  layers: DeepLayerRaw[];
  /** The logits at the last prompt position [vocab]; null when the last layer was not run. */
  finalLogits: Float32Array | null;
  /** The next-token top-k (softmax probabilities); empty when the last layer was not run. */
  next: Array<{ id: number; prob: number }>;
  /** The raw output of the last layer at the image rows, before model.norm (keepHidden only). */
  lastPrenorm?: Float32Array;
  /** Seconds per decoder layer (read + build + run). */
  layerSeconds: number[];
  /** Of layerSeconds, the session run alone (with --dtype q8|q4 the rest is read, quantize, build, create). */
  runSeconds: number[];
}

/** Parses `--layers`: all | a-b | i,j,k (hidden_states indices 0..numLayers), ascending and unique. */
export function parseLayers(spec: string, numLayers: number): number[] {
  const s = spec.trim();
  const bad = (why: string) =>
    new BadInputError(`--layers ${JSON.stringify(spec)}: ${why}`, {
      hint: `use all, a range a-b or a list i,j,k of hidden-state indices 0..${numLayers} (0 = the input embeddings, ${numLayers} = the last layer)`,
    });
  if (s === 'all' || s === '') return Array.from({ length: numLayers + 1 }, (_, i) => i);
  const out = new Set<number>();
  const num = (t: string): number => {
    if (!/^\d+$/.test(t.trim())) throw bad(`"${t}" is not a layer index`);
    const v = Number(t.trim());
    if (v > numLayers) throw bad(`layer ${v} is past the last one (${numLayers})`);
    return v;
  };
  for (const part of s.split(',')) {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(part);
    if (m) {
      const a = num(m[1]!);
      const b = num(m[2]!);
      if (b < a) throw bad(`range ${part} runs backwards`);
      for (let i = a; i <= b; i++) out.add(i);
    } else out.add(num(part));
  }
  return [...out].sort((a, b) => a - b);
}

/** The decoder-layer spec of a text model, or a typed error saying why the deep lens cannot run it. */
export function decoderLayerSpec(text: TextSpec, where: string): DecoderLayerSpec {
  const d = text.decoder;
  if (d.problem !== null) {
    throw new UnsupportedModelError(`${where}: the deep lens cannot run this decoder: ${d.problem}`, {
      hint: 'fix the text settings in config.json; the projector-level lens still works (drop --layers)',
    });
  }
  if (!text.decoderSupported) {
    throw new UnsupportedModelError(
      `${where}: the deep lens does not support the ${text.modelType} language model yet`,
      {
        hint: 'its decoder layer differs from the shared Llama/Mistral/Qwen2/Gemma layer; the projector-level lens still works (drop --layers)',
      },
    );
  }
  if (d.ropeType !== 'default' && d.ropeType !== 'mrope') {
    throw new UnsupportedModelError(`${where}: rope_type "${d.ropeType}" is not supported by the deep lens`, {
      hint: 'only the default rotary embedding (and Qwen2-VL M-RoPE) is implemented',
    });
  }
  if (d.numHeads % d.numKvHeads !== 0 || d.headDim % 2 !== 0) {
    throw new UnsupportedModelError(
      `${where}: ${d.numHeads} attention heads / ${d.numKvHeads} kv heads / head_dim ${d.headDim} do not form a GQA layer`,
    );
  }
  return {
    hidden: text.hidden,
    numHeads: d.numHeads,
    numKvHeads: d.numKvHeads,
    headDim: d.headDim,
    intermediate: d.intermediate,
    act: d.act,
    eps: text.rmsEps,
    normKind: text.normKind,
    qkvBias: d.qkvBias,
    qkNorm: d.qkNorm,
    ...(d.qkNormKind ? { qkNormKind: d.qkNormKind } : {}),
    ...(d.attnScale !== undefined ? { attnScale: d.attnScale } : {}),
    ...(d.sandwichNorms ? { sandwichNorms: true } : {}),
  };
}

/** Contiguous runs [start, end) of ascending positions (Gemma 3's image blocks: one per view). */
export function positionRuns(positions: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const p of positions) {
    const last = runs[runs.length - 1];
    if (last && last[1] === p) last[1] = p + 1;
    else runs.push([p, p + 1]);
  }
  return runs;
}

function checkFinite(a: Float32Array, what: string, where: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) {
      throw new NonFiniteError('deep', `${where}: ${what} holds ${a[i]} (at element ${i})`, {
        hint: 'likely cause: NaN/Inf in the decoder weights, or a non-positive rms_norm_eps',
      });
    }
  }
}

/** A layer's weight feeds: F16 bytes as float16, F32 as float32, BF16 widened to float32 (inputWeights' types). */
function weightFeeds(
  inputs: ReadonlyMap<string, WeightInput>,
  raw: ReadonlyMap<string, RawTensor>,
  where: string,
): Record<string, NamedTensor> {
  const feeds: Record<string, NamedTensor> = {};
  for (const [name, w] of inputs) {
    const t = raw.get(w.checkpoint);
    if (!t) throw new BadInputError(`${where}: tensor ${w.checkpoint} was not read`);
    let bytes = t.bytes;
    if (bytes.byteOffset % 4 !== 0) bytes = bytes.slice(); // typed-array views need aligned offsets
    const data =
      w.dtype === 'F16'
        ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)
        : w.dtype === 'F32'
          ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
          : toFloat32(bytes, w.dtype);
    feeds[name] = { data, shape: w.shape };
  }
  return feeds;
}

/**
 * One decoder layer on the opt-in quantized path: planned (names checked against the index), read, its linear
 * weights quantized at load (loadWeights' `quant`: the quantized tensors are initializers, so onnxruntime prepacks
 * them and folds q8's transpose), built into a session of its own, run once and released.
 */
async function runQuantizedLayer(
  a: DeepRunArgs,
  spec: DecoderLayerSpec,
  L: number,
  layerOpts: { inject: boolean },
  quant: QuantSpec,
  feeds: Record<string, NamedTensor>,
): Promise<{ res: SessionOutputs; runSeconds: number }> {
  const { text, where } = a;
  const prefix = decoderLayerPrefix(L);
  const planG = new GraphBuilder({ name: `decoder.layer.${L}.plan` });
  const plan = planWeights(planG, a.index, text.naming, where);
  buildDecoderLayer(planG, plan.weights.pp(prefix), spec, L, layerOpts);
  const raw = await a.readLayer(plan.names(), L);
  const g = new GraphBuilder({ name: `decoder.layer.${L}` });
  buildDecoderLayer(
    g,
    loadWeights(g, raw, text.naming, where, { quant }).weights.pp(prefix),
    spec,
    L,
    layerOpts,
  );
  const session = await Session.create(g.build(), { device: a.device });
  try {
    const tr = performance.now();
    const res = await session.run(feeds); // outputs are JS-owned copies: valid after release
    return { res, runSeconds: (performance.now() - tr) / 1000 };
  } finally {
    await session.release();
  }
}

export async function runDeepLens(a: DeepRunArgs): Promise<DeepRaw> {
  const { text, lens, prompt, where } = a;
  const spec = decoderLayerSpec(text, where);
  const N = text.numLayers;
  const D = text.hidden;
  const S = prompt.ids.length;
  const n = a.layout.tokens.length;
  if (a.features.length !== n * D) {
    throw new BadInputError(`deep lens: features have ${a.features.length} values, expected [${n}, ${D}]`);
  }
  if (prompt.imagePositions.length !== n) {
    throw new BadInputError(
      `deep lens: the prompt has ${prompt.imagePositions.length} image tokens, the image ${n}`,
    );
  }
  for (const L of a.layers) {
    if (!Number.isInteger(L) || L < 0 || L > N)
      throw new BadInputError(`deep lens: layer ${L} is not in 0..${N}`);
  }
  const quant = quantSpecOf(a.dtype);
  const start = prompt.imagePositions[0]!; // where the image begins (M-RoPE counts from it)
  const chosen = new Set(a.layers);
  const maxLayer = Math.max(...a.layers);
  const runTo = maxLayer; // layers 0..runTo-1 run; runTo = N also gives the model's own next token

  // hidden_states[0]: embed_tokens rows (times the embedding scale) at the text positions, the features at the
  // image run (transformers: inputs_embeds.masked_scatter(image_mask, image_features)).
  const x = new Float32Array(S * D); // [S, D]
  const positions = prompt.imagePositions; // ascending; one run, or interleaved with specials (Idefics3)
  const isImage = new Uint8Array(S);
  for (const p of positions) isImage[p] = 1;
  const textPos = prompt.ids.map((_, i) => i).filter((i) => !isImage[i]);
  const embedRows = await lens.embeddingRows(textPos.map((i) => prompt.ids[i]!)); // [text, D]
  textPos.forEach((p, j) => x.set(embedRows.subarray(j * D, (j + 1) * D), p * D));
  positions.forEach((p, t) => x.set(a.features.subarray(t * D, (t + 1) * D), p * D));

  // Rotary cos/sin for the prompt's positions, once.
  const pos = a.lang.positions(S, start, a.layout);
  const section = text.decoder.mropeSection;
  const rows = section ? section.length : 1;
  if (pos.rows !== rows || pos.data.length !== pos.rows * S) {
    throw new BadInputError(
      `deep lens: ${pos.rows} position rows for ${rows} rotary sections (mrope_section ${JSON.stringify(section)})`,
    );
  }
  const rowOf = ropeRows(spec.headDim, section, text.decoder.mropeInterleaved);
  const g4 = text.decoder.gemma4;
  const ropeFor = async (theta: number, factor: number, headDim = spec.headDim, rotated?: number) => {
    const ropeSession = await Session.create(
      buildRopeGraph({
        headDim,
        theta,
        rows,
        rowOf: headDim === spec.headDim ? rowOf : ropeRows(headDim, null, false),
        factor,
        ...(rotated !== undefined ? { rotated } : {}),
      }),
      { device: a.device },
    );
    const rope = await ropeSession.run({ [DECODER_IO.positions]: { data: pos.data, shape: [pos.rows, S] } });
    await ropeSession.release();
    return {
      cos: rope.f32(DECODER_IO.cos, [S, headDim]).data,
      sin: rope.f32(DECODER_IO.sin, [S, headDim]).data,
    };
  };
  // Gemma 3: each layer type has its own rope (sliding: local base frequency; full: global, maybe linear-scaled)
  // and only sliding layers get the window; every other model has one rope and windowFromLayer.
  const types = text.decoder.layerTypes ?? null;
  const byType = text.decoder.ropeByType;
  if (types && (types.length !== N || !byType)) {
    throw new BadInputError(`deep lens: ${types.length} layer types for ${N} layers`);
  }
  // Gemma 4: full layers have global_head_dim and proportional RoPE (only the first frequencies turn)
  const ropeMain = g4
    ? await ropeFor(byType!.full_attention.theta, 1, g4.globalHeadDim, g4.fullRotated)
    : byType
      ? await ropeFor(byType.full_attention.theta, byType.full_attention.factor)
      : await ropeFor(text.decoder.ropeTheta, 1);
  const ropeSliding = byType
    ? await ropeFor(byType.sliding_attention.theta, byType.sliding_attention.factor)
    : ropeMain;
  // Gemma 3: every contiguous run of image tokens attends both ways (token_type_ids), on top of the causal mask.
  const blocks = a.lang.imageBlocks || g4?.bidirectionalVision ? positionRuns(prompt.imagePositions) : [];
  const fullMask = attentionMask(S, a.lang.attention, null, blocks);
  const w = text.decoder.slidingWindow;
  const windowMask = w !== null && w < S ? attentionMask(S, a.lang.attention, w, blocks) : fullMask;
  const windowed = (L: number): boolean =>
    w !== null && (types ? types[L] === 'sliding_attention' : L >= text.decoder.windowFromLayer);

  const imageRows = (h: Float32Array): Float32Array => {
    const out = new Float32Array(n * D); // [n, D]
    positions.forEach((p, t) => out.set(h.subarray(p * D, (p + 1) * D), t * D));
    return out;
  };
  const out: DeepLayerRaw[] = [];
  const readLens = async (layer: number, h: Float32Array, normed: boolean): Promise<void> => {
    // h [n, D] = hidden_states[layer] at the image rows; `normed`: already passed through model.norm.
    const logitMethod = normed && a.compat !== 'llava-interp' ? 'logit-raw' : 'logit';
    const logit = await lens.run(h, n, logitMethod, a.k, a.excludeMask);
    const embed = await lens.run(h, n, 'cosine', a.k, a.excludeMask);
    out.push({ layer, logit, embed, ...(a.keepHidden ? { hidden: h } : {}) });
  };

  // Gemma 4: the per-layer inputs of every layer, [S, N, P], once (gemma4PerLayerInputs), and each layer's shape:
  // head dim by type, the double-wide MLP and kv sharing (shared layers read the stored k/v of their type).
  const pli = g4 && g4.perLayerInput > 0 ? await gemma4PerLayerInputs(a, x, isImage) : null;
  const layerSpec = (L: number): DecoderLayerSpec => {
    if (!g4) return spec;
    const full = types![L] === 'full_attention';
    const shared = L >= g4.firstKvShared;
    const store =
      !shared &&
      types!.slice(g4.firstKvShared).includes(types![L]!) &&
      types!.lastIndexOf(types![L]!, g4.firstKvShared - 1) === L;
    return {
      ...spec,
      headDim: full ? g4.globalHeadDim : spec.headDim,
      intermediate: shared && g4.doubleWideMlp ? 2 * spec.intermediate : spec.intermediate,
      vNorm: true,
      layerScalar: true,
      ...(g4.perLayerInput > 0 ? { perLayerInput: g4.perLayerInput } : {}),
      ...(shared ? { kv: 'shared' as const } : store ? { kv: 'store' as const } : {}),
    };
  };
  const storedKv = new Map<string, { k: Float32Array; v: Float32Array }>(); // by layer type

  const task = 'deep.layers';
  const label = (i: number) => `decoder layer ${i}/${N}`;
  a.onProgress?.({ status: 'initiate', task, label: label(0), total: runTo, unit: 'items' });
  const t0 = performance.now();
  const layerSeconds: number[] = [];
  const runSeconds: number[] = [];
  let cur: Float32Array = x;
  const sessions = new Map<string, Session>();
  try {
    for (let L = 0; L <= runTo; L++) {
      a.signal?.throwIfAborted();
      if (chosen.has(L) && L < N) await readLens(L, imageRows(cur), false);
      if (L === runTo || L >= N) break;
      const tl = performance.now();
      const prefix = decoderLayerPrefix(L);
      // DeepStack: hidden_states[L] is the raw output of layer L-1; the features are added to it on the way in.
      const inj = (a.injections ?? []).filter((j) => j.beforeLayer === L);
      let inject: Float32Array | null = null;
      if (inj.length > 0) {
        inject = new Float32Array(S * D); // [S, D], zero outside the image positions
        const sum = inj.length === 1 ? inj[0]!.features : null;
        if (!sum)
          throw new BadInputError(`deep lens: ${inj.length} injections before layer ${L}; one is supported`);
        positions.forEach((p, t) => inject!.set(sum.subarray(t * D, (t + 1) * D), p * D));
      }
      const layerOpts = { inject: inject !== null };
      const ls = layerSpec(L);
      // The layer's graph (weights as inputs, named relative to the layer) and its session, shared by every layer
      // of the same shape and dtypes.
      // (--dtype q8|q4 builds a session per layer instead: runQuantizedLayer.)
      let run: ((feeds: Record<string, NamedTensor>) => Promise<SessionOutputs>) | null = null;
      if (!quant) {
        const g = new GraphBuilder({ name: 'decoder.layer' });
        const iw = inputWeights(g, a.index, text.naming, where, prefix);
        buildDecoderLayer(g, iw.weights.pp(prefix), ls, L, layerOpts);
        const key = `${layerOpts.inject}|${ls.headDim}|${ls.kv ?? ''}|${[...iw.inputs].map(([n, t]) => `${n}:${t.dtype}:${t.shape.join('x')}`).join(',')}`;
        let session = sessions.get(key);
        if (!session) {
          // Arena off: bench/deep-run.ts at llava-1.5-7b shapes, 3 layers, one paired run: peak RSS 3.68 GiB
          // without, 4.19 GiB with it, layer time within the noise (1.43 vs 1.26 s).
          session = await Session.create(g.build(), { device: a.device, memArena: false });
          sessions.set(key, session);
        }
        const raw = await a.readLayer(
          [...iw.inputs.values()].map((t) => t.checkpoint),
          L,
        );
        const shared = session;
        run = (feeds) => shared.run({ ...feeds, ...weightFeeds(iw.inputs, raw, where) });
      }
      const mask = windowed(L) ? windowMask : fullMask;
      const { cos, sin } = types?.[L] === 'sliding_attention' ? ropeSliding : ropeMain;
      const hd = ls.headDim;
      const kvShape = [spec.numKvHeads, S, hd];
      const extra: Record<string, NamedTensor> = {};
      if (pli && ls.perLayerInput) {
        const P = ls.perLayerInput;
        const mine = new Float32Array(S * P); // pli[:, L, :]
        for (let i = 0; i < S; i++) mine.set(pli.subarray((i * N + L) * P, (i * N + L + 1) * P), i * P);
        extra[DECODER_IO.perLayerInput] = { data: mine, shape: [S, P] };
      }
      if (ls.kv === 'shared') {
        const kv = storedKv.get(types![L]!);
        if (!kv)
          throw new BadInputError(
            `deep lens: layer ${L} shares k/v that no earlier ${types![L]} layer stored`,
          );
        extra[DECODER_IO.kIn] = { data: kv.k, shape: kvShape };
        extra[DECODER_IO.vIn] = { data: kv.v, shape: kvShape };
      }
      const feeds: Record<string, NamedTensor> = {
        [DECODER_IO.hidden]: { data: cur, shape: [S, D] },
        [DECODER_IO.cos]: { data: cos, shape: [S, hd] },
        [DECODER_IO.sin]: { data: sin, shape: [S, hd] },
        [DECODER_IO.mask]: { data: mask, shape: [S, S] },
        ...(inject ? { [DECODER_IO.inject]: { data: inject, shape: [S, D] } } : {}),
        ...extra,
      };
      let res: SessionOutputs;
      if (run) {
        const tr = performance.now();
        res = await run(feeds);
        runSeconds.push((performance.now() - tr) / 1000);
      } else {
        const q = await runQuantizedLayer(a, ls, L, layerOpts, quant!, feeds);
        res = q.res;
        runSeconds.push(q.runSeconds);
      }
      if (ls.kv === 'store') {
        storedKv.set(types![L]!, {
          k: res.f32(DECODER_IO.kOut, kvShape).data,
          v: res.f32(DECODER_IO.vOut, kvShape).data,
        });
      }
      cur = res.f32(DECODER_IO.out, [S, D]).data;
      checkFinite(cur, `the output of decoder layer ${L}`, where);
      layerSeconds.push((performance.now() - tl) / 1000);
      const done = L + 1;
      const elapsed = (performance.now() - t0) / 1000;
      a.onProgress?.({
        status: 'progress',
        task,
        label: label(done),
        done,
        total: runTo,
        unit: 'items',
        rate: done / elapsed,
        etaSeconds: (elapsed / done) * (runTo - done),
      });
    }
  } finally {
    for (const s of sessions.values()) await s.release();
  }
  a.onProgress?.({ status: 'done', task, label: label(runTo), seconds: (performance.now() - t0) / 1000 });

  let finalLogits: Float32Array | null = null;
  const next: DeepRaw['next'] = [];
  let lastPrenorm: Float32Array | undefined;
  if (runTo === N) {
    // hidden_states[N] = model.norm(r_N): the image rows and the last position, normed once.
    const rowsN = new Float32Array((n + 1) * D);
    rowsN.set(imageRows(cur), 0);
    rowsN.set(cur.subarray((S - 1) * D, S * D), n * D);
    const normed = await lens.finalNorm(rowsN, n + 1); // [n + 1, D]
    if (a.keepHidden) lastPrenorm = imageRows(cur);
    if (chosen.has(N)) await readLens(N, normed.slice(0, n * D), true);
    // The model's own logits at the last position: lm_head(hidden_states[N]), every vocabulary row.
    const V = text.vocabSize;
    const all = await lens.run(normed.slice(n * D), 1, 'logit-raw', V, null);
    // Gemma 4 applies final_logit_softcapping to the model's logits: tanh(l / c) · c (monotonic: the order stays)
    const cap = g4?.finalSoftcap ?? null;
    if (cap !== null) {
      for (let j = 0; j < V; j++) all.scores[j] = Math.fround(Math.tanh(all.scores[j]! / cap) * cap);
    }
    finalLogits = new Float32Array(V);
    for (let j = 0; j < V; j++) finalLogits[all.ids[j]!] = all.scores[j]!;
    // softmax over the vocabulary (log-sum-exp from the largest logit), for the top-k shown
    const top = all.scores[0]!;
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(all.scores[j]! - top);
    for (let j = 0; j < Math.min(a.k, V); j++) {
      next.push({ id: all.ids[j]!, prob: Math.exp(all.scores[j]! - top) / sum });
    }
  }
  return { numLayers: N, layers: out, finalLogits, next, lastPrenorm, layerSeconds, runSeconds };
}

/**
 * Gemma 4's per-layer inputs (PLE) for the prompt, [S, N, P] (transformers 5.12.1 modeling_gemma4.py
 * Gemma4TextModel.get_per_layer_inputs / project_per_layer_inputs), as one graph:
 *   tok  = embed_tokens_per_layer[ids'] · float32(sqrt(P)), ids' = the prompt ids with image tokens -> pad_token_id
 *   proj = per_layer_projection_norm(reshape(per_layer_model_projection(inputs_embeds) · H^-0.5, [S, N, P]))
 *   pli  = (proj + tok) · 2^-0.5
 * The whole embed_tokens_per_layer table is read (N · P values per vocabulary row).
 */
async function gemma4PerLayerInputs(
  a: DeepRunArgs,
  x: Float32Array,
  isImage: Uint8Array,
): Promise<Float32Array> {
  const { text, where } = a;
  const g4 = text.decoder.gemma4!;
  const N = text.numLayers;
  const D = text.hidden;
  const P = g4.perLayerInput;
  const S = a.prompt.ids.length;
  const root = 'language_model.model';
  const g = new GraphBuilder({ name: 'decoder.ple' });
  const iw = inputWeights(g, a.index, text.naming, where, root);
  const w = iw.weights.pp(root);
  const table = w.pp('embed_tokens_per_layer').get('weight', [g4.perLayerVocab, N * P]); // [V', N*P]
  const ids = g.input('ple_ids', 'int64', ['seq']); // [S]
  const embeds = g.input('inputs_embeds', 'float32', ['seq', D]); // [S, D]
  const tok = g.mul(g.gather(table, ids, 0, 'ple.tok_rows'), Math.fround(Math.sqrt(P)), 'ple.tok'); // [S, N*P]
  const projected = linear(g, w.pp('per_layer_model_projection'), embeds, D, N * P, 'ple.proj_linear', {
    bias: false,
  }); // [S, N*P]
  const scaled = g.mul(projected, Math.fround(D ** -0.5), 'ple.proj_scaled');
  const normed = decoderNorm(
    g,
    w.pp('per_layer_projection_norm'),
    g.reshape(scaled, [0, N, P], 'ple.proj_split'),
    P,
    text.rmsEps,
    'rms',
    'ple.proj_norm',
  ); // [S, N, P]
  const sum = g.add(normed, g.reshape(tok, [0, N, P], 'ple.tok_split'), 'ple.sum');
  g.output(g.mul(sum, Math.fround(2 ** -0.5), 'ple.inputs'), 'per_layer_inputs'); // [S, N, P]
  const session = await Session.create(g.build(), { device: a.device });
  try {
    const raw = await a.readLayer(
      [...iw.inputs.values()].map((t) => t.checkpoint),
      0,
    );
    const pad = BigInt(g4.padTokenId);
    const idData = BigInt64Array.from(a.prompt.ids, (id, i) => (isImage[i] ? pad : BigInt(id)));
    const res = await session.run({
      ple_ids: { data: idData, shape: [S] },
      inputs_embeds: { data: x, shape: [S, D] },
      ...weightFeeds(iw.inputs, raw, where),
    });
    const out = res.f32('per_layer_inputs', [S, N, P]).data;
    checkFinite(out, 'the per-layer inputs', where);
    return out;
  } finally {
    await session.release();
  }
}
