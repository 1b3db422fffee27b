/**
 * Explicit weight access for graph builders (after candle's VarBuilder: `w.pp('mlp.fc1').get('weight', [o, i])`).
 * Blocks ask for weights by their logical (legacy transformers) name and expected shape; a `TensorNaming` maps
 * that name to the checkpoint's own (e.g. `vision_tower.` or, from transformers 4.52, `model.vision_tower.`), and a
 * missing or mis-shaped tensor throws MissingTensorError naming the tensor with expected vs got shape.
 *
 * The same graph code runs in two modes, so the list of tensors to read can never drift from what the graph uses:
 * `planWeights` only records names and checks shapes against the checkpoint index (no bytes read), and
 * `loadWeights` adds the tensors' bytes to the graph as initializers.
 */
import { readSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { MissingTensorError } from '../errors.js';
import type { DType, WeightTensor, TensorInfo } from '../source/types.js';
import { shapeStr, type Shape } from '../util/shape.js';
import type { GraphBuilder, Value } from './builder.js';
import type { ExternalData } from './onnx.js';
import { quantizeLinear, type QGemmWeight, type QuantSpec, type QuantizedWeight } from './quant.js';

/** Float32 graph values for checkpoint weights, addressed relative to a prefix. */
export interface Weights {
  /** The logical prefix of this view, e.g. "vision_tower.vision_model.encoder.layers.3.". */
  readonly prefix: string;
  /** A required weight; throws MissingTensorError when absent or mis-shaped. */
  get(name: string, shape: Shape): Value;
  /** An optional weight: null when absent, but still shape-checked when present. */
  opt(name: string, shape: Shape): Value | null;
  /** A view with `prefix + "."` appended. */
  pp(prefix: string): Weights;
  /**
   * With the opt-in fast path (loadWeights' `quant`): the weight quantized for MatMulNBits (src/graph/quant.ts),
   * shape-checked like `get`; null (or absent) otherwise, and the caller uses `get`.
   */
  quantized?(name: string, shape: Shape): QuantizedWeight | QGemmWeight | null;
}

/**
 * Maps logical tensor names to checkpoint names. `roots` lists, for each logical root, the checkpoint roots to
 * try in order; a name under no listed root maps to itself.
 */
export class TensorNaming {
  constructor(readonly roots: Readonly<Record<string, readonly string[]>>) {}

  /** The checkpoint names a logical name may have, in the order they are tried. */
  candidates(logical: string): string[] {
    for (const [root, alts] of Object.entries(this.roots)) {
      if (logical.startsWith(root)) return alts.map((a) => a + logical.slice(root.length));
    }
    return [logical];
  }

  resolve(logical: string, has: (name: string) => boolean): string | undefined {
    return this.candidates(logical).find(has);
  }
}

/**
 * LLaVA / LLaVA-NeXT naming: legacy (transformers <= 4.51, most llava-hf checkpoints) and the layout written by
 * transformers >= 4.52 (`_checkpoint_conversion_mapping` in modeling_llava.py / modeling_llava_next.py).
 */
export const LLAVA_NAMING = new TensorNaming({
  'vision_tower.': ['vision_tower.', 'model.vision_tower.'],
  'multi_modal_projector.': ['multi_modal_projector.', 'model.multi_modal_projector.'],
  image_newline: ['image_newline', 'model.image_newline'],
});

/** What the weight getter needs to know about one checkpoint tensor. */
interface TensorEntry {
  shape: readonly number[];
  dtype: DType;
  bytes?: Uint8Array;
  external?: ExternalData;
  /** Reads the stored bytes of an in-place tensor (for quantization at load). */
  read?: () => Uint8Array;
}

class WeightsImpl implements Weights {
  constructor(
    private readonly ctx: {
      g: GraphBuilder;
      naming: TensorNaming;
      lookup: (name: string) => TensorEntry | undefined;
      where: string;
      used: Map<string, Value>; // checkpoint name -> graph value
      plan: boolean;
      quant?: QuantSpec | null;
      quantUsed?: Map<string, QuantizedWeight | QGemmWeight>;
    },
    readonly prefix: string,
  ) {}

  pp(prefix: string): Weights {
    return new WeightsImpl(this.ctx, `${this.prefix}${prefix}.`);
  }

  quantized(name: string, shape: Shape): QuantizedWeight | QGemmWeight | null {
    const { naming, lookup, where, plan, quant, quantUsed } = this.ctx;
    if (plan || !quant || !quantUsed || shape.length !== 2) return null;
    const ckpt = naming.resolve(this.prefix + name, (n) => lookup(n) !== undefined);
    if (ckpt === undefined) return null; // get() reports the missing tensor
    const prev = quantUsed.get(ckpt);
    if (prev) return prev;
    const t = lookup(ckpt)!;
    if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) return null; // get() reports it
    const bytes = t.bytes ?? t.read?.();
    if (!bytes) throw new MissingTensorError(`${where}: tensor ${ckpt} was not read`);
    const q = quantizeLinear(bytes, t.dtype, shape[0] as number, shape[1] as number, quant);
    quantUsed.set(ckpt, q);
    return q;
  }

  get(name: string, shape: Shape): Value {
    const v = this.opt(name, shape);
    if (v) return v;
    const logical = this.prefix + name;
    const tried = this.ctx.naming.candidates(logical);
    throw new MissingTensorError(
      `${this.ctx.where}: tensor ${logical} ${shapeStr(shape)} is missing` +
        (tried.length > 1 || tried[0] !== logical ? ` (looked for ${tried.join(', ')})` : ''),
      { hint: 'the checkpoint is incomplete or not a model of this type; check the repo id and config.json' },
    );
  }

  opt(name: string, shape: Shape): Value | null {
    const { g, naming, lookup, where, used, plan } = this.ctx;
    const logical = this.prefix + name;
    const ckpt = naming.resolve(logical, (n) => lookup(n) !== undefined);
    if (ckpt === undefined) return null;
    const prev = used.get(ckpt);
    if (prev) return prev;
    const t = lookup(ckpt)!;
    const ok = t.shape.length === shape.length && shape.every((d, i) => d === t.shape[i]);
    if (!ok) {
      throw new MissingTensorError(
        `${where}: tensor ${ckpt} has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)} from config.json`,
        { hint: 'config.json does not match the weights; check vision_config / text_config sizes' },
      );
    }
    let v: Value;
    if (plan) {
      v = g.input(ckpt, 'float32', shape); // a placeholder: the planning graph is never built
    } else {
      if (t.external) v = g.initializer(ckpt, t.external, t.dtype, shape);
      else if (!t.bytes) throw new MissingTensorError(`${where}: tensor ${ckpt} was not read`);
      else v = g.initializer(ckpt, t.bytes, t.dtype, shape);
    }
    used.set(ckpt, v);
    return v;
  }
}

/** A getter that records names and checks shapes against the checkpoint index; read `names()` afterwards. */
export function planWeights(
  g: GraphBuilder,
  index: ReadonlyMap<string, TensorInfo>,
  naming: TensorNaming,
  where: string,
): { weights: Weights; names: () => string[] } {
  const used = new Map<string, Value>();
  const weights = new WeightsImpl({ g, naming, lookup: (n) => index.get(n), where, used, plan: true }, '');
  return { weights, names: () => [...used.keys()] };
}

/**
 * A getter that adds the tensors to `g` as initializers (F16/BF16 cast to float32 in-graph): read ones with
 * their bytes, in-place ones as external data (WeightTensor.at; the session's external-data folder is `at.dir`).
 * With `quant` (the opt-in --dtype q8|q4 path), `quantized` gives linear weights quantized at load instead
 * (in-place ones are read from their file for it).
 */
export function loadWeights(
  g: GraphBuilder,
  tensors: ReadonlyMap<string, WeightTensor>,
  naming: TensorNaming,
  where: string,
  opts: { quant?: QuantSpec | null } = {},
): { weights: Weights; names: () => string[] } {
  const used = new Map<string, Value>();
  const lookup = (n: string): TensorEntry | undefined => {
    const t = tensors.get(n);
    if (!t) return undefined;
    if (t.bytes) return { shape: t.info.shape, dtype: t.info.dtype, bytes: t.bytes };
    const external = { location: t.at.location, offset: t.at.offset, length: t.info.end - t.info.begin };
    const at = t.at;
    const read = (): Uint8Array => {
      const out = new Uint8Array(external.length);
      const fd = openSync(join(at.dir, at.location), 'r');
      try {
        for (let got = 0; got < out.length;) {
          const r = readSync(fd, out, got, out.length - got, at.offset + got);
          if (r === 0)
            throw new MissingTensorError(`${where}: tensor ${n}: file ended at byte ${at.offset + got}`);
          got += r;
        }
      } finally {
        closeSync(fd);
      }
      return out;
    };
    return { shape: t.info.shape, dtype: t.info.dtype, external, read };
  };
  const quantUsed = new Map<string, QuantizedWeight | QGemmWeight>();
  const weights = new WeightsImpl(
    { g, naming, lookup, where, used, plan: false, quant: opts.quant, quantUsed },
    '',
  );
  return { weights, names: () => [...used.keys(), ...quantUsed.keys()] };
}

/** One weight a graph takes as an input (see inputWeights): its checkpoint name, stored dtype and shape. */
export interface WeightInput {
  checkpoint: string;
  dtype: DType;
  shape: number[];
}

/**
 * A getter that makes every weight a graph INPUT instead of an initializer, named by its logical name with
 * `stripPrefix` removed (`w.self_attn.q_proj.weight`), so one session serves every decoder layer of the same
 * shape: the weights are fed per run and no session is built per layer (building one, with its F16 -> F32 cast and
 * prepacking, took 2-3.5 s per llava-1.5-7b layer; a run takes ~2 s). F16 weights are float16 inputs cast in-graph;
 * F32 and BF16 weights are float32 inputs (BF16 is widened in JS when fed). Names and shapes are checked against
 * the checkpoint index as in planWeights.
 */
export function inputWeights(
  g: GraphBuilder,
  index: ReadonlyMap<string, TensorInfo>,
  naming: TensorNaming,
  where: string,
  stripPrefix: string,
): { weights: Weights; inputs: Map<string, WeightInput> } {
  const inputs = new Map<string, WeightInput>();
  const values = new Map<string, Value>();
  const strip = stripPrefix.endsWith('.') ? stripPrefix : `${stripPrefix}.`;
  const lookup = (n: string): TensorEntry | undefined => {
    const t = index.get(n);
    return t ? { shape: t.shape, dtype: t.dtype } : undefined;
  };
  const make = (prefix: string): Weights => ({
    prefix,
    pp: (p: string) => make(`${prefix}${p}.`),
    get(name: string, shape: Shape): Value {
      const v = this.opt(name, shape);
      if (v) return v;
      const logical = prefix + name;
      throw new MissingTensorError(
        `${where}: tensor ${logical} ${shapeStr(shape)} is missing (looked for ${naming.candidates(logical).join(', ')})`,
        {
          hint: 'the checkpoint is incomplete or not a model of this type; check the repo id and config.json',
        },
      );
    },
    opt(name: string, shape: Shape): Value | null {
      const logical = prefix + name;
      const ckpt = naming.resolve(logical, (n) => lookup(n) !== undefined);
      if (ckpt === undefined) return null;
      const t = lookup(ckpt)!;
      const ok = t.shape.length === shape.length && shape.every((d, i) => d === t.shape[i]);
      if (!ok) {
        throw new MissingTensorError(
          `${where}: tensor ${ckpt} has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)} from config.json`,
          { hint: 'config.json does not match the weights; check text_config sizes' },
        );
      }
      const key = `w.${logical.startsWith(strip) ? logical.slice(strip.length) : logical}`;
      const prev = values.get(key);
      if (prev) return prev;
      inputs.set(key, { checkpoint: ckpt, dtype: t.dtype, shape: [...shape] });
      const v =
        t.dtype === 'F16'
          ? g.cast(g.input(key, 'float16', shape), 'float32', `${key}.f32`)
          : g.input(key, 'float32', shape);
      values.set(key, v);
      return v;
    },
  });
  return { weights: make(''), inputs };
}
