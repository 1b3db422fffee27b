/**
 * A readable builder for ONNX graphs: declare inputs, add weights as initializers, chain ops, name outputs,
 * then `build()` the model bytes for onnxruntime. Every op takes an optional `name` that becomes the ONNX name of
 * its output (and node), so intermediates like `vision.layer.3.attn_out` can be exposed and compared with
 * golden dumps. The builder does no math itself; onnxruntime does.
 *
 * Example (a lens-style scorer):
 *   const g = new GraphBuilder();
 *   const x = g.input('features', 'float32', ['tokens', 48]);              // [tokens, hidden]
 *   const e = g.initializer('embed', rawF16Bytes, 'F16', [512, 48]);      // [vocab, hidden], Cast to f32 in-graph
 *   const s = g.matmul(x, g.transpose(e, [1, 0]), 'scores');              // [tokens, vocab]
 *   const { values, indices } = g.topK(s, 10, { name: 'top' });
 *   g.output(values, 'top_scores'); g.output(indices, 'top_ids');
 *   const bytes = g.build();
 *
 * Conventions: ONNX operator semantics are those of the default domain at `opset` (default 17, the first with
 * LayerNormalization); see https://onnx.ai/onnx/operators/.
 */
import type { DType } from '../source/types.js';
import { numel, shapeStr, type Shape } from '../util/shape.js';
import {
  DataType,
  encodeModel,
  type Attribute,
  type ExternalData,
  type DataTypeCode,
  type Dim,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx.js';

export type ElemType = 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8';

const ELEM_CODE: Record<ElemType, DataTypeCode> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: DataType.BOOL,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
};
const ELEM_BYTES: Record<ElemType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  bool: 1,
  uint8: 1,
  int8: 1,
};
const DTYPE_ELEM: Record<DType, ElemType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** A tensor in the graph under construction: its ONNX name and element type. */
export interface Value {
  readonly name: string;
  readonly type: ElemType;
}

/** Attribute constructors: `{ axis: attr.int(-1), epsilon: attr.float(1e-5) }`. */
export type AttrValue = Attribute extends infer A
  ? A extends { name: string }
    ? Omit<A, 'name'>
    : never
  : never;
export const attr = {
  int: (value: number): AttrValue => ({ type: 'int', value }),
  float: (value: number): AttrValue => ({ type: 'float', value }),
  string: (value: string): AttrValue => ({ type: 'string', value }),
  ints: (value: readonly number[]): AttrValue => ({ type: 'ints', value }),
  floats: (value: readonly number[]): AttrValue => ({ type: 'floats', value }),
  strings: (value: readonly string[]): AttrValue => ({ type: 'strings', value }),
};
export type Attrs = Record<string, AttrValue>;

export interface OpOptions {
  /** ONNX name of the (first) output; multi-output ops name the others `${name}.${i}` unless `outputs` is given. */
  name?: string;
  /** Explicit names for every output. */
  outputs?: readonly string[];
  /** Number of outputs when `outputs` is not given (default 1). */
  numOutputs?: number;
  /** Output element types (default: the first input's type for every output). */
  outTypes?: readonly ElemType[];
  domain?: string;
}

/** An operand that may be a plain number, turned into a scalar constant of the other operand's type. */
export type Operand = Value | number;

export interface GraphBuilderOptions {
  name?: string;
  /** Default-domain opset (>= 17). */
  opset?: number;
  docString?: string;
}

export const DEFAULT_OPSET = 17;

/** IR version paired with each opset by the ONNX release that introduced it (onnx/helper.py VERSION_TABLE). */
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8; // onnx 1.12-1.13
  if (opset <= 20) return 9; // onnx 1.14-1.15
  return 10; // onnx 1.16+
}

export class GraphBuilder {
  readonly name: string;
  readonly opset: number;
  private readonly docString?: string;
  private readonly nodes: NodeProto[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly values = new Map<string, Value>();
  private readonly constCache = new Map<string, Value>();
  private counter = 0;
  private initBytes = 0;

  constructor(opts: GraphBuilderOptions = {}) {
    this.name = opts.name ?? 'imgtokens';
    this.opset = opts.opset ?? DEFAULT_OPSET;
    if (this.opset < 17)
      throw new Error(`GraphBuilder: opset ${this.opset} < 17 (LayerNormalization needs 17)`);
    this.docString = opts.docString;
  }

  // ------------------------------------------------------------ names and values

  private define(name: string, type: ElemType): Value {
    if (name.length === 0) throw new Error('GraphBuilder: empty value name');
    if (this.values.has(name)) throw new Error(`GraphBuilder: value "${name}" is defined twice`);
    const v: Value = { name, type };
    this.values.set(name, v);
    return v;
  }

  private autoName(op: string): string {
    let n: string;
    do n = `${op}_${this.counter++}`;
    while (this.values.has(n));
    return n;
  }

  /** Looks up a value defined earlier by its ONNX name. */
  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new Error(`GraphBuilder: no value named "${name}"`);
    return v;
  }
  has(name: string): boolean {
    return this.values.has(name);
  }

  // ------------------------------------------------------------ inputs, outputs, initializers

  /** A graph input; string dims are symbolic (e.g. 'crops'). */
  input(name: string, type: ElemType, shape: readonly Dim[]): Value {
    const v = this.define(name, type);
    this.inputs.push({ name, elemType: ELEM_CODE[type], shape });
    return v;
  }

  /**
   * Exposes `v` as a graph output named `name` (default: its own name). An Identity node is added when the
   * names differ or the value is already an output under another name.
   */
  output(v: Value, name: string = v.name, shape?: readonly Dim[]): Value {
    if (this.outputs.some((o) => o.name === name)) throw new Error(`GraphBuilder: output "${name}" exists`);
    const out = name === v.name ? v : this.identity(v, name);
    this.outputs.push({ name, elemType: ELEM_CODE[out.type], shape });
    return out;
  }

  /**
   * A weight from raw little-endian bytes stored as `dtype`, in memory or (ExternalData) in a file that
   * onnxruntime reads itself. With `castTo` (default 'float32') F16/BF16 weights
   * are stored as-is and cast in-graph (onnxruntime folds the Cast once at session creation), so JS never
   * holds an fp32 copy. The initializer keeps `name`; the returned value is `${name}` or `${name}.f32`.
   */
  initializer(
    name: string,
    bytes: Uint8Array | ExternalData,
    dtype: DType,
    shape: Shape,
    opts: { castTo?: 'float32' | null } = {},
  ): Value {
    const type = DTYPE_ELEM[dtype];
    const v = this.rawInit(name, bytes, type, shape);
    const castTo = opts.castTo === undefined ? 'float32' : opts.castTo;
    if (castTo === null || castTo === type) return v;
    return this.cast(v, castTo, `${name}.f32`);
  }

  /** A float32 weight (the bytes of `data` are referenced, not copied, until `build()`). */
  initFloat32(name: string, data: Float32Array, shape: Shape): Value {
    return this.rawInit(
      name,
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      'float32',
      shape,
    );
  }

  /** A uint8 tensor (packed quantized weights, zero points; src/graph/quant.ts), referenced until `build()`. */
  initUint8(name: string, data: Uint8Array, shape: Shape, type: 'uint8' | 'int8' = 'uint8'): Value {
    return this.rawInit(name, data, type, shape);
  }

  /** An int64 tensor constant (shapes, axes, indices). */
  initInt64(name: string, values: readonly number[], shape: Shape = [values.length]): Value {
    const data = BigInt64Array.from(values, (x) => BigInt(x));
    return this.rawInit(name, new Uint8Array(data.buffer), 'int64', shape);
  }

  private rawInit(name: string, bytes: Uint8Array | ExternalData, type: ElemType, shape: Shape): Value {
    const want = numel(shape) * ELEM_BYTES[type];
    const inMemory = bytes instanceof Uint8Array;
    const got = inMemory ? bytes.byteLength : bytes.length;
    if (got !== want) {
      throw new Error(
        `GraphBuilder: initializer ${name}: ${type} ${shapeStr(shape)} needs ${want} bytes, got ${got}`,
      );
    }
    const v = this.define(name, type);
    const dims = [...shape];
    this.inits.push(
      inMemory
        ? { name, dataType: ELEM_CODE[type], dims, rawData: bytes }
        : { name, dataType: ELEM_CODE[type], dims, external: bytes },
    );
    if (inMemory) this.initBytes += got;
    return v;
  }

  /** A shared int64 constant, e.g. a Reshape target or Slice bounds. */
  constInt64(values: readonly number[], shape: Shape = [values.length]): Value {
    const key = `i64:${shapeStr(shape)}:${values.join(',')}`;
    let v = this.constCache.get(key);
    if (!v) {
      v = this.initInt64(this.autoName('const_i64'), values, shape);
      this.constCache.set(key, v);
    }
    return v;
  }

  /** A shared float scalar (rank 0) of the given type. */
  constScalar(value: number, type: ElemType = 'float32'): Value {
    const key = `${type}:${Object.is(value, -0) ? '-0' : String(value)}`;
    let v = this.constCache.get(key);
    if (!v) {
      if (type !== 'float32') {
        const f = this.initFloat32(this.autoName('const_f32'), new Float32Array([value]), []);
        v = this.cast(f, type);
      } else {
        v = this.initFloat32(this.autoName('const_f32'), new Float32Array([value]), []);
      }
      this.constCache.set(key, v);
    }
    return v;
  }

  private operand(x: Operand, like: Operand): Value {
    if (typeof x !== 'number') return x;
    const type = typeof like === 'number' ? 'float32' : like.type;
    return this.constScalar(x, type);
  }

  // ------------------------------------------------------------ the generic op

  /** Adds one node; returns its output values. `null` inputs are omitted optional inputs. */
  op(opType: string, inputs: ReadonlyArray<Value | null>, attrs: Attrs = {}, opts: OpOptions = {}): Value[] {
    for (const i of inputs) {
      if (i && this.values.get(i.name) !== i) {
        throw new Error(`GraphBuilder: ${opType} input "${i.name}" does not belong to this graph`);
      }
    }
    // Trailing omitted inputs are dropped rather than written as '' (onnxruntime 1.30 crashes on
    // LayerNormalization with an explicit empty bias).
    let end = inputs.length;
    while (end > 0 && inputs[end - 1] === null) end--;
    inputs = inputs.slice(0, end);
    const n = opts.outputs?.length ?? opts.numOutputs ?? 1;
    const base = opts.name ?? this.autoName(opType);
    const names = opts.outputs ?? Array.from({ length: n }, (_, i) => (i === 0 ? base : `${base}.${i}`));
    const firstType = inputs.find((i) => i !== null)?.type ?? 'float32';
    const outs = names.map((nm, i) => this.define(nm, opts.outTypes?.[i] ?? firstType));
    this.nodes.push({
      opType,
      inputs: inputs.map((i) => i?.name ?? ''),
      outputs: names,
      name: base,
      domain: opts.domain,
      attributes: Object.entries(attrs).map(([name, a]) => ({ name, ...a }) as Attribute),
    });
    return outs;
  }

  private op1(opType: string, inputs: ReadonlyArray<Value | null>, attrs: Attrs, name?: string): Value {
    return this.op(opType, inputs, attrs, { name })[0];
  }

  // ------------------------------------------------------------ elementwise

  add(a: Operand, b: Operand, name?: string): Value {
    return this.op1('Add', [this.operand(a, b), this.operand(b, a)], {}, name);
  }
  sub(a: Operand, b: Operand, name?: string): Value {
    return this.op1('Sub', [this.operand(a, b), this.operand(b, a)], {}, name);
  }
  mul(a: Operand, b: Operand, name?: string): Value {
    return this.op1('Mul', [this.operand(a, b), this.operand(b, a)], {}, name);
  }
  div(a: Operand, b: Operand, name?: string): Value {
    return this.op1('Div', [this.operand(a, b), this.operand(b, a)], {}, name);
  }
  pow(a: Operand, b: Operand, name?: string): Value {
    return this.op1('Pow', [this.operand(a, b), this.operand(b, a)], {}, name);
  }
  max(a: Operand, b: Operand, name?: string): Value {
    return this.op1('Max', [this.operand(a, b), this.operand(b, a)], {}, name);
  }
  min(a: Operand, b: Operand, name?: string): Value {
    return this.op1('Min', [this.operand(a, b), this.operand(b, a)], {}, name);
  }
  sqrt(x: Value, name?: string): Value {
    return this.op1('Sqrt', [x], {}, name);
  }
  neg(x: Value, name?: string): Value {
    return this.op1('Neg', [x], {}, name);
  }
  abs(x: Value, name?: string): Value {
    return this.op1('Abs', [x], {}, name);
  }
  exp(x: Value, name?: string): Value {
    return this.op1('Exp', [x], {}, name);
  }
  erf(x: Value, name?: string): Value {
    return this.op1('Erf', [x], {}, name);
  }
  tanh(x: Value, name?: string): Value {
    return this.op1('Tanh', [x], {}, name);
  }
  sigmoid(x: Value, name?: string): Value {
    return this.op1('Sigmoid', [x], {}, name);
  }
  relu(x: Value, name?: string): Value {
    return this.op1('Relu', [x], {}, name);
  }
  identity(x: Value, name?: string): Value {
    return this.op1('Identity', [x], {}, name);
  }
  cast(x: Value, to: ElemType, name?: string): Value {
    return this.op('Cast', [x], { to: attr.int(ELEM_CODE[to]) }, { name, outTypes: [to] })[0];
  }

  // ------------------------------------------------------------ linear algebra and normalisation

  /** Batched matrix product with numpy broadcasting: [..., M, K] x [..., K, N] -> [..., M, N]. */
  matmul(a: Value, b: Value, name?: string): Value {
    return this.op1('MatMul', [a, b], {}, name);
  }

  /** 2-D Gemm: alpha * A' B' + beta * C, with optional transposes. */
  gemm(
    a: Value,
    b: Value,
    c: Value | null,
    opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number; name?: string } = {},
  ): Value {
    const attrs: Attrs = {};
    if (opts.transA) attrs.transA = attr.int(1);
    if (opts.transB) attrs.transB = attr.int(1);
    if (opts.alpha !== undefined) attrs.alpha = attr.float(opts.alpha);
    if (opts.beta !== undefined) attrs.beta = attr.float(opts.beta);
    return this.op1('Gemm', [a, b, c], attrs, opts.name);
  }

  /** LayerNormalization (opset 17) over the last axis by default: (x - mean) / sqrt(var + eps) * scale + bias. */
  layerNorm(
    x: Value,
    scale: Value,
    bias: Value | null,
    opts: { epsilon: number; axis?: number; name?: string },
  ): Value {
    const attrs = { axis: attr.int(opts.axis ?? -1), epsilon: attr.float(opts.epsilon) };
    return this.op1('LayerNormalization', [x, scale, bias], attrs, opts.name);
  }

  softmax(x: Value, axis = -1, name?: string): Value {
    return this.op1('Softmax', [x], { axis: attr.int(axis) }, name);
  }

  /** Conv (NCHW). Pads default to 0. */
  conv(
    x: Value,
    w: Value,
    b: Value | null,
    opts: { strides: readonly number[]; pads?: readonly number[]; name?: string },
  ): Value {
    const attrs: Attrs = { strides: attr.ints(opts.strides) };
    if (opts.pads) attrs.pads = attr.ints(opts.pads);
    return this.op1('Conv', [x, w, b], attrs, opts.name);
  }

  /** Reduce over `axes` (ReduceSum/Mean/Max/Min/L2/SumSquare), passing axes as an input or attribute per opset. */
  reduce(
    op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin' | 'ReduceL2' | 'ReduceSumSquare',
    x: Value,
    axes: readonly number[],
    opts: { keepdims?: boolean; name?: string } = {},
  ): Value {
    const keep = { keepdims: attr.int(opts.keepdims === false ? 0 : 1) };
    // ReduceSum takes axes as an input from opset 13, the other reductions from opset 18.
    if (op === 'ReduceSum' || this.opset >= 18) {
      return this.op1(op, [x, this.constInt64(axes)], keep, opts.name);
    }
    return this.op1(op, [x], { ...keep, axes: attr.ints(axes) }, opts.name);
  }

  /** TopK along `axis` (default last); returns values (x's type) and int64 indices. */
  topK(
    x: Value,
    k: number | Value,
    opts: { axis?: number; largest?: boolean; sorted?: boolean; name?: string } = {},
  ): { values: Value; indices: Value } {
    const kv = typeof k === 'number' ? this.constInt64([k]) : k;
    const base = opts.name ?? this.autoName('TopK');
    const attrs: Attrs = { axis: attr.int(opts.axis ?? -1) };
    if (opts.largest === false) attrs.largest = attr.int(0);
    if (opts.sorted === false) attrs.sorted = attr.int(0);
    const [values, indices] = this.op('TopK', [x, kv], attrs, {
      name: base,
      outputs: [`${base}.values`, `${base}.indices`],
      outTypes: [x.type, 'int64'],
    });
    return { values, indices };
  }

  argMax(x: Value, axis: number, opts: { keepdims?: boolean; name?: string } = {}): Value {
    const attrs = { axis: attr.int(axis), keepdims: attr.int(opts.keepdims === false ? 0 : 1) };
    return this.op('ArgMax', [x], attrs, { name: opts.name, outTypes: ['int64'] })[0];
  }

  // ------------------------------------------------------------ shape ops

  /** Reshape; in `shape`, 0 copies the input's dim and -1 is inferred (ONNX Reshape semantics). */
  reshape(x: Value, shape: readonly number[] | Value, name?: string): Value {
    const s = Array.isArray(shape) ? this.constInt64(shape) : (shape as Value);
    return this.op1('Reshape', [x, s], {}, name);
  }
  transpose(x: Value, perm: readonly number[], name?: string): Value {
    return this.op1('Transpose', [x], { perm: attr.ints(perm) }, name);
  }
  concat(xs: readonly Value[], axis: number, name?: string): Value {
    return this.op1('Concat', xs, { axis: attr.int(axis) }, name);
  }
  /** Slice [starts, ends) along `axes` (ends may be large to mean "to the end"). */
  slice(
    x: Value,
    starts: readonly number[],
    ends: readonly number[],
    axes: readonly number[],
    steps?: readonly number[],
    name?: string,
  ): Value {
    const ins = [x, this.constInt64(starts), this.constInt64(ends), this.constInt64(axes)];
    if (steps) ins.push(this.constInt64(steps));
    return this.op1('Slice', ins, {}, name);
  }
  gather(x: Value, indices: Value, axis = 0, name?: string): Value {
    return this.op1('Gather', [x, indices], { axis: attr.int(axis) }, name);
  }
  unsqueeze(x: Value, axes: readonly number[], name?: string): Value {
    return this.op1('Unsqueeze', [x, this.constInt64(axes)], {}, name);
  }
  squeeze(x: Value, axes: readonly number[], name?: string): Value {
    return this.op1('Squeeze', [x, this.constInt64(axes)], {}, name);
  }
  expand(x: Value, shape: Value, name?: string): Value {
    return this.op1('Expand', [x, shape], {}, name);
  }
  /** The int64 shape of x, optionally sliced to dims [start, end). */
  shape(x: Value, opts: { start?: number; end?: number; name?: string } = {}): Value {
    const attrs: Attrs = {};
    if (opts.start !== undefined) attrs.start = attr.int(opts.start);
    if (opts.end !== undefined) attrs.end = attr.int(opts.end);
    return this.op('Shape', [x], attrs, { name: opts.name, outTypes: ['int64'] })[0];
  }

  // ------------------------------------------------------------ output

  /** Counts for logs and tests (initializerBytes: in-memory bytes only, not external data). */
  stats(): { nodes: number; initializers: number; initializerBytes: number } {
    return { nodes: this.nodes.length, initializers: this.inits.length, initializerBytes: this.initBytes };
  }

  /** Encodes the ModelProto (inputs were checked as each node was added). */
  build(): Uint8Array {
    if (this.outputs.length === 0) throw new Error(`GraphBuilder ${this.name}: the graph has no outputs`);
    return encodeModel({
      irVersion: irVersionFor(this.opset),
      opsetImports: [
        { domain: '', version: this.opset },
        // contrib ops (MatMulNBits, src/graph/quant.ts) are opset 1 of onnxruntime's com.microsoft domain
        ...(this.nodes.some((n) => n.domain === 'com.microsoft')
          ? [{ domain: 'com.microsoft', version: 1 }]
          : []),
      ],
      producerName: 'imgtokens',
      producerVersion: '0.1.0',
      graph: {
        name: this.name,
        nodes: this.nodes,
        initializers: this.inits,
        inputs: this.inputs,
        outputs: this.outputs,
        docString: this.docString,
      },
    });
  }
}
