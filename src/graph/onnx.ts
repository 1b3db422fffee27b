/**
 * A small hand-written protobuf encoder for the parts of ONNX that imgtokens writes: ModelProto, GraphProto,
 * NodeProto, TensorProto (weights as raw_data), ValueInfoProto and AttributeProto. Encode-only; no dependency.
 *
 * Field numbers follow onnx/onnx.proto (https://github.com/onnx/onnx/blob/v1.16.0/onnx/onnx.proto) and the wire
 * format follows https://protobuf.dev/programming-guides/encoding/. Large byte fields (tensor raw_data) are kept
 * by reference while encoding and copied exactly once, into the final buffer, by `encodeModel`.
 */

// ---------------------------------------------------------------- ONNX enums (onnx.proto)

/** TensorProto.DataType. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

// ---------------------------------------------------------------- plain-data mirrors of the protos we write

export interface TensorProto {
  name: string;
  dataType: DataTypeCode;
  dims: readonly number[];
  /** Little-endian element bytes; encoded by reference (no copy until the final buffer). */
  rawData?: Uint8Array;
  /**
   * Or: the bytes live in a file that onnxruntime reads itself (TensorProto.external_data, data_location =
   * EXTERNAL); `location` is relative to the session's external-data folder.
   */
  external?: ExternalData;
}

/** Where an initializer's bytes are in a file: onnx.proto's external_data keys location/offset/length. */
export interface ExternalData {
  location: string;
  offset: number;
  length: number;
}

export type Attribute =
  | { name: string; type: 'float'; value: number }
  | { name: string; type: 'int'; value: number }
  | { name: string; type: 'string'; value: string }
  | { name: string; type: 'floats'; value: readonly number[] }
  | { name: string; type: 'ints'; value: readonly number[] }
  | { name: string; type: 'strings'; value: readonly string[] }
  | { name: string; type: 'tensor'; value: TensorProto };

export interface NodeProto {
  opType: string;
  inputs: readonly string[]; // '' marks an omitted optional input
  outputs: readonly string[];
  name: string;
  domain?: string;
  attributes?: readonly Attribute[];
}

/** A dimension is a fixed size or a symbolic name (e.g. "crops"). */
export type Dim = number | string;

export interface ValueInfoProto {
  name: string;
  elemType: DataTypeCode;
  /** Omitted: rank and sizes unknown. */
  shape?: readonly Dim[];
}

export interface GraphProto {
  name: string;
  nodes: readonly NodeProto[];
  initializers: readonly TensorProto[];
  inputs: readonly ValueInfoProto[];
  outputs: readonly ValueInfoProto[];
  docString?: string;
}

export interface ModelProto {
  irVersion: number;
  opsetImports: ReadonlyArray<{ domain: string; version: number }>;
  producerName: string;
  producerVersion: string;
  graph: GraphProto;
  docString?: string;
}

// ---------------------------------------------------------------- protobuf wire writer

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const utf8 = new TextEncoder();

/**
 * Accumulates an encoded message as a list of byte parts: small fields go into a scratch buffer, large
 * byte fields are appended by reference. `length` is the encoded size so far.
 */
class ProtoWriter {
  readonly parts: Uint8Array[] = [];
  length = 0;
  private scratch = new Uint8Array(256);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.scratch.length) return;
    this.flushScratch();
    if (n > this.scratch.length) this.scratch = new Uint8Array(Math.max(n, 2 * this.scratch.length));
  }

  private flushScratch(): void {
    if (this.pos === 0) return;
    this.parts.push(this.scratch.subarray(0, this.pos));
    this.scratch = new Uint8Array(this.scratch.length);
    this.pos = 0;
  }

  /** Unsigned varint; negative numbers are written as 64-bit two's complement (10 bytes), as int64 requires. */
  varint(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`protobuf: varint ${v} is not a safe integer`);
    this.ensure(10);
    const start = this.pos;
    if (v >= 0) {
      while (v > 0x7f) {
        this.scratch[this.pos++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      this.scratch[this.pos++] = v;
    } else {
      let b = BigInt.asUintN(64, BigInt(v));
      while (b > 0x7fn) {
        this.scratch[this.pos++] = Number(b & 0x7fn) | 0x80;
        b >>= 7n;
      }
      this.scratch[this.pos++] = Number(b);
    }
    this.length += this.pos - start;
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_I32);
    this.ensure(4);
    new DataView(this.scratch.buffer, this.scratch.byteOffset).setFloat32(this.pos, v, true);
    this.pos += 4;
    this.length += 4;
  }

  /** A length-delimited field whose payload is kept by reference. */
  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.byteLength);
    if (data.byteLength <= 64) {
      this.ensure(data.byteLength);
      this.scratch.set(data, this.pos);
      this.pos += data.byteLength;
    } else {
      this.flushScratch();
      this.parts.push(data);
    }
    this.length += data.byteLength;
  }

  string(field: number, s: string): void {
    this.bytes(field, utf8.encode(s));
  }

  message(field: number, m: ProtoWriter): void {
    m.flushScratch();
    this.tag(field, WIRE_LEN);
    this.varint(m.length);
    this.flushScratch();
    for (const p of m.parts) this.parts.push(p);
    this.length += m.length;
  }

  packedInts(field: number, vs: readonly number[]): void {
    const m = new ProtoWriter();
    for (const v of vs) m.varint(v);
    this.message(field, m);
  }

  packedFloats(field: number, vs: readonly number[]): void {
    const f = new Float32Array(vs);
    this.bytes(field, new Uint8Array(f.buffer));
  }

  /** Copies every part into one buffer (the only copy of large payloads). */
  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.byteLength;
    }
    if (off !== this.length) throw new Error(`protobuf: wrote ${off} bytes, expected ${this.length}`);
    return out;
  }
}

// ---------------------------------------------------------------- message encoders (field numbers from onnx.proto)

function encodeTensor(t: TensorProto): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d); // repeated int64 dims = 1 (unpacked is always accepted)
  w.int(2, t.dataType); // int32 data_type = 2
  w.string(8, t.name); // string name = 8
  if (t.external) {
    const entries: Array<[string, string]> = [
      ['location', t.external.location],
      ['offset', String(t.external.offset)],
      ['length', String(t.external.length)],
    ];
    for (const [key, value] of entries) {
      const e = new ProtoWriter();
      e.string(1, key); // StringStringEntryProto key = 1
      e.string(2, value); // value = 2
      w.message(13, e); // repeated StringStringEntryProto external_data = 13
    }
    w.int(14, 1); // DataLocation data_location = 14 (EXTERNAL)
  } else {
    w.bytes(9, t.rawData ?? new Uint8Array(0)); // bytes raw_data = 9
  }
  return w;
}

function encodeAttribute(a: Attribute): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, a.name); // name = 1
  switch (a.type) {
    case 'float':
      w.float(2, a.value); // f = 2
      w.int(20, AttrType.FLOAT); // type = 20
      break;
    case 'int':
      w.int(3, a.value); // i = 3
      w.int(20, AttrType.INT);
      break;
    case 'string':
      w.string(4, a.value); // s = 4
      w.int(20, AttrType.STRING);
      break;
    case 'tensor':
      w.message(5, encodeTensor(a.value)); // t = 5
      w.int(20, AttrType.TENSOR);
      break;
    case 'floats':
      w.packedFloats(7, a.value); // floats = 7
      w.int(20, AttrType.FLOATS);
      break;
    case 'ints':
      w.packedInts(8, a.value); // ints = 8
      w.int(20, AttrType.INTS);
      break;
    case 'strings':
      for (const s of a.value) w.string(9, s); // strings = 9
      w.int(20, AttrType.STRINGS);
      break;
  }
  return w;
}

function encodeNode(n: NodeProto): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i); // input = 1
  for (const o of n.outputs) w.string(2, o); // output = 2
  w.string(3, n.name); // name = 3
  w.string(4, n.opType); // op_type = 4
  for (const a of n.attributes ?? []) w.message(5, encodeAttribute(a)); // attribute = 5
  if (n.domain) w.string(7, n.domain); // domain = 7
  return w;
}

function encodeValueInfo(v: ValueInfoProto): ProtoWriter {
  // TypeProto { Tensor tensor_type = 1 { int32 elem_type = 1; TensorShapeProto shape = 2 } }
  const tensorType = new ProtoWriter();
  tensorType.int(1, v.elemType);
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter(); // Dimension { int64 dim_value = 1 | string dim_param = 2 }
      if (typeof d === 'number') dim.int(1, d);
      else dim.string(2, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  const type = new ProtoWriter();
  type.message(1, tensorType);
  const w = new ProtoWriter();
  w.string(1, v.name); // name = 1
  w.message(2, type); // type = 2
  return w;
}

function encodeGraph(g: GraphProto): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n)); // node = 1
  w.string(2, g.name); // name = 2
  for (const t of g.initializers) w.message(5, encodeTensor(t)); // initializer = 5
  if (g.docString) w.string(10, g.docString); // doc_string = 10
  for (const v of g.inputs) w.message(11, encodeValueInfo(v)); // input = 11
  for (const v of g.outputs) w.message(12, encodeValueInfo(v)); // output = 12
  return w;
}

/** Protobuf ModelProto can't exceed 2 GiB (onnx external data would be needed beyond that). */
export const MAX_MODEL_BYTES = 2 ** 31 - 1;

/** Encodes a ModelProto into one buffer; tensor raw_data is copied once, here. */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion); // ir_version = 1
  w.string(2, m.producerName); // producer_name = 2
  w.string(3, m.producerVersion); // producer_version = 3
  if (m.docString) w.string(6, m.docString); // doc_string = 6
  w.message(7, encodeGraph(m.graph)); // graph = 7
  for (const o of m.opsetImports) {
    const op = new ProtoWriter(); // OperatorSetIdProto { string domain = 1; int64 version = 2 }
    op.string(1, o.domain);
    op.int(2, o.version);
    w.message(8, op); // opset_import = 8
  }
  if (w.length > MAX_MODEL_BYTES) {
    throw new Error(`ONNX model is ${w.length} bytes, over protobuf's 2 GiB limit`);
  }
  return w.finish();
}
