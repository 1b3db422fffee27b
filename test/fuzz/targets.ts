/**
 * Fuzz targets (fast-check properties) over the parsers that read untrusted bytes: the safetensors header, the
 * shard index, config.json (through planModel: the family's config parser and the processor-size checks), the
 * image decoder entry and the server's request parsing (forms, JSON scan, parameters, addresses, whole requests
 * against the app). The property of each: it returns, or throws an ImgTokensError (a typed, user-facing error);
 * any other exception (TypeError, RangeError, a stack overflow) or a 5xx answer is a crash.
 * Run briefly by test/fuzz/fuzz.test.ts in `npm test`, and for longer by scripts/fuzz.ts.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import sharp from 'sharp';
import { ImgTokensError } from '../../src/errors.js';
import { decodeImage } from '../../src/image/decode.js';
import { planModel } from '../../src/model.js';
import { isPublicAddress, parseIPv4, parseIPv6 } from '../../src/server/address.js';
import { MAX_FORM_PARTS, parseForm, scanJson } from '../../src/server/form.js';
import { createServer } from '../../src/server/index.js';
import { checkImage } from '../../src/server/limits.js';
import { parseAnalyzeParams } from '../../src/server/params.js';
import { checkProcessorSizes } from '../../src/source/config-limits.js';
import { duplicateTopLevelKey, parseHeader, parseHeaderLength } from '../../src/source/safetensors.js';
import { parseShardIndex } from '../../src/source/shards.js';
import type { ModelSource, TensorInfo } from '../../src/source/types.js';
import { fakeModel } from '../server/fake-model.js';
import { isIPv4, isIPv6 } from 'node:net';

export interface FuzzTarget {
  name: string;
  property: fc.IRawProperty<unknown[], boolean>;
}

/** Typed errors are the expected way to refuse input; anything else is rethrown as a crash. */
function typedOnly(e: unknown): void {
  if (!(e instanceof ImgTokensError)) throw e;
}
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

// ---- safetensors ---------------------------------------------------------------------------------------------
const dtype = fc.constantFrom('F32', 'F16', 'BF16', 'I8', 'F64', 'X', 3);
const shape = fc.oneof(fc.array(fc.integer({ min: -2, max: 9 }), { maxLength: 4 }), fc.jsonValue());
const entry = fc.record(
  {
    dtype,
    shape,
    data_offsets: fc.oneof(
      fc.tuple(fc.integer({ min: -4, max: 300 }), fc.integer({ min: -4, max: 300 })),
      fc.jsonValue(),
    ),
  },
  { requiredKeys: [] },
);
const headerObject = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 6 }), fc.constant('__metadata__')),
  fc.oneof(entry, fc.jsonValue()),
  { maxKeys: 6 },
);
/** Header text: a structured object, sometimes with a key repeated, or arbitrary text. */
const headerText = fc.oneof(
  headerObject.map((o) => JSON.stringify(o)),
  fc.tuple(headerObject, fc.string({ maxLength: 4 })).map(([o, k]) => {
    const body = JSON.stringify(o).slice(1, -1);
    return `{${body}${body ? ',' : ''}${JSON.stringify(k)}:1,${JSON.stringify(k)}:2}`;
  }),
  fc.string({ maxLength: 200 }),
);

const safetensorsHeader: FuzzTarget = {
  name: 'safetensors header',
  property: fc.property(headerText, fc.integer({ min: 0, max: 400 }), (text, dataBytes) => {
    const json = enc(text);
    try {
      const h = parseHeader(json, 'fuzz.safetensors', 8 + json.length + dataBytes);
      // Accepted: every tensor inside the file, ranges disjoint, no key JSON.parse would have merged.
      const end = 8 + json.length + dataBytes;
      const sorted = [...h.tensors].sort((a, b) => a.begin - b.begin);
      for (const [i, t] of sorted.entries()) {
        if (t.begin < 8 + json.length || t.end > end || t.end < t.begin)
          throw new Error(`bad range ${t.name}`);
        if (i > 0 && t.begin < sorted[i - 1].end) throw new Error('overlap accepted');
      }
      if (duplicateTopLevelKey(text) !== undefined) throw new Error('duplicate key accepted');
    } catch (e) {
      typedOnly(e);
    }
    return true;
  }),
};

const safetensorsLength: FuzzTarget = {
  name: 'safetensors header length',
  property: fc.property(
    fc.uint8Array({ maxLength: 12 }),
    fc.option(fc.nat(), { nil: undefined }),
    (b, size) => {
      try {
        const n = parseHeaderLength(b, 'fuzz', size);
        if (!(n > 0 && n <= 100_000_000)) throw new Error(`length ${n} accepted`);
      } catch (e) {
        typedOnly(e);
      }
      return true;
    },
  ),
};

const shardIndex: FuzzTarget = {
  name: 'shard index',
  property: fc.property(
    fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 12 }), fc.jsonValue()))
        .map((m) => JSON.stringify({ weight_map: m })),
      fc.string({ maxLength: 100 }),
    ),
    (text) => {
      try {
        const idx = parseShardIndex(enc(text ?? 'null'), 'fuzz');
        for (const f of idx.files) if (f.startsWith('/') || f.split('/').includes('..')) throw new Error(f);
      } catch (e) {
        typedOnly(e);
      }
      return true;
    },
  ),
};

// ---- config.json through planModel ---------------------------------------------------------------------------
const FIX = 'test/fixtures/llava';
function memorySource(files: Record<string, Uint8Array>, index: Map<string, TensorInfo>): ModelSource {
  return {
    description: 'fuzz-model',
    readFile: async (p) => files[p] ?? null,
    tensorIndex: async () => index,
    readTensors: async () => new Map(),
  };
}
let fixtureCache:
  { files: Record<string, Uint8Array>; index: Map<string, TensorInfo>; config: unknown }[] | null = null;
async function fixtures() {
  if (fixtureCache) return fixtureCache;
  const { LocalSource } = await import('../../src/source/local.js');
  fixtureCache = [];
  for (const name of ['tiny-llava', 'tiny-llava-next']) {
    const dir = `${FIX}/${name}`;
    const files: Record<string, Uint8Array> = {};
    for (const f of ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json'])
      files[f] = new Uint8Array(readFileSync(`${dir}/${f}`));
    const index = await new LocalSource(dir).tensorIndex();
    fixtureCache.push({ files, index, config: JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) });
  }
  return fixtureCache;
}

/** Sets `value` at a path of keys into a deep copy of `obj` (creating objects as needed). */
function setPath(obj: unknown, path: string[], value: unknown): unknown {
  const root = structuredClone(obj) as Record<string, unknown>;
  let at = root;
  for (const [i, k] of path.entries()) {
    if (i === path.length - 1) at[k] = value;
    else {
      if (typeof at[k] !== 'object' || at[k] === null) at[k] = {};
      at = at[k] as Record<string, unknown>;
    }
  }
  return root;
}
const configKey = fc.constantFrom(
  'model_type',
  'vision_config',
  'text_config',
  'image_grid_pinpoints',
  'vision_feature_layer',
  'vision_feature_select_strategy',
  'projector_hidden_act',
  'image_token_index',
  'tie_word_embeddings',
  'hidden_size',
  'patch_size',
  'image_size',
  'num_hidden_layers',
  'layer_norm_eps',
  'vocab_size',
  'size',
  'shortest_edge',
);
const configValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer({ min: -5, max: 200_000 }),
  fc.constantFrom('llava', 'llava_next', 'clip_vision_model', 'siglip_vision_model', 'default', 'full'),
  fc.array(fc.tuple(fc.integer({ min: -1, max: 100_000 }), fc.integer({ min: -1, max: 100_000 })), {
    maxLength: 3,
  }),
);
const configMutation = fc.record({
  fixture: fc.integer({ min: 0, max: 1 }),
  edits: fc.array(fc.tuple(fc.array(configKey, { minLength: 1, maxLength: 3 }), configValue), {
    maxLength: 4,
  }),
  inPreprocessor: fc.boolean(),
  raw: fc.option(fc.string({ maxLength: 60 }), { freq: 8 }),
});

const configParsing: FuzzTarget = {
  name: 'config.json (planModel)',
  property: fc.asyncProperty(configMutation, async (m) => {
    const fx = (await fixtures())[m.fixture];
    const file = m.inPreprocessor ? 'preprocessor_config.json' : 'config.json';
    let obj: unknown = m.inPreprocessor ? JSON.parse(new TextDecoder().decode(fx.files[file])) : fx.config;
    for (const [path, v] of m.edits) obj = setPath(obj, path, v);
    const text = m.raw ?? JSON.stringify(obj);
    try {
      await planModel(memorySource({ ...fx.files, [file]: enc(text) }, fx.index));
    } catch (e) {
      typedOnly(e);
    }
    return true;
  }),
};

const processorSizes: FuzzTarget = {
  name: 'processor size limits',
  property: fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
    try {
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) checkProcessorSizes(v, 'fuzz');
    } catch (e) {
      typedOnly(e);
    }
    return true;
  }),
};

// ---- images ----------------------------------------------------------------------------------------------------
let seeds: Uint8Array[] | null = null;
async function imageSeeds(): Promise<Uint8Array[]> {
  seeds ??= [
    new Uint8Array(readFileSync(`${FIX}/images/shapes_120x80.png`)),
    new Uint8Array(readFileSync(`${FIX}/images/portrait_45x90.jpg`)),
    new Uint8Array(
      await sharp({ create: { width: 9, height: 7, channels: 4, background: '#08f8' } })
        .webp()
        .toBuffer(),
    ),
    new Uint8Array(
      await sharp({ create: { width: 5, height: 5, channels: 3, background: '#f00' } })
        .gif()
        .toBuffer(),
    ),
  ];
  return seeds;
}
/** A seed image with a few bytes overwritten, truncated, or arbitrary bytes. */
const imageBytes = fc.oneof(
  fc.record({
    seed: fc.integer({ min: 0, max: 3 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
    cut: fc.option(fc.nat()),
  }),
  fc.uint8Array({ maxLength: 64 }),
);
async function materialise(x: Uint8Array | { seed: number; flips: [number, number][]; cut: number | null }) {
  if (x instanceof Uint8Array) return x;
  const s = (await imageSeeds())[x.seed];
  let b = new Uint8Array(s);
  // Mostly in the header, where the parsers live.
  for (const [at, v] of x.flips) b[at % Math.min(b.length, at % 3 === 0 ? b.length : 64)] = v;
  if (x.cut !== null) b = b.subarray(0, x.cut % (b.length + 1));
  return b;
}

const imageDecoder: FuzzTarget = {
  name: 'image decoder',
  property: fc.asyncProperty(imageBytes, async (x) => {
    const bytes = await materialise(x);
    try {
      const d = await decodeImage(bytes, { name: 'fuzz' });
      const { width, height, data } = d.image;
      if (data.length !== width * height * 3) throw new Error('decoded size mismatch');
    } catch (e) {
      typedOnly(e);
    }
    try {
      await checkImage(bytes, { maxUploadBytes: 1 << 20, maxPixels: 1 << 22 });
    } catch (e) {
      typedOnly(e);
    }
    return true;
  }),
};

// ---- server request parsing -------------------------------------------------------------------------------------
const fieldName = fc.constantFrom(
  'image',
  'file',
  'method',
  'k',
  'view',
  'exclude',
  'request',
  'url',
  'x',
  'result',
);
const formBody = fc.oneof(
  // a well-framed multipart body of random parts
  fc
    .array(fc.tuple(fieldName, fc.string({ maxLength: 20 }), fc.boolean()), { maxLength: MAX_FORM_PARTS + 4 })
    .map((parts) => {
      const body = parts
        .map(
          ([n, v, isFile]) =>
            `--B\r\nContent-Disposition: form-data; name="${n}"${isFile ? '; filename="f.png"' : ''}\r\n\r\n${v}\r\n`,
        )
        .join('');
      return { type: 'multipart/form-data; boundary=B', body: `${body}--B--\r\n` };
    }),
  fc.string({ maxLength: 300 }).map((body) => ({ type: 'application/x-www-form-urlencoded', body })),
  fc
    .tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 300 }))
    .map(([type, body]) => ({ type: `multipart/form-data; ${type}`, body })),
);

const formParsing: FuzzTarget = {
  name: 'server form parsing',
  property: fc.asyncProperty(formBody, async ({ type, body }) => {
    try {
      const f = await parseForm(new Uint8Array(enc(body)), type);
      const count = [...f.fields.values()].reduce((a, v) => a + v.length, 0);
      if (count > MAX_FORM_PARTS) throw new Error(`${count} fields accepted`);
      parseAnalyzeParams((k) => f.fields.get(k) ?? [], 50);
    } catch (e) {
      typedOnly(e);
    }
    return true;
  }),
};

/** Nested JSON text, sometimes deeper than any limit. */
const nested = fc
  .tuple(fc.integer({ min: 0, max: 40 }), fc.string({ maxLength: 30 }), fc.constantFrom('[', '{"a":'))
  .map(([d, s, open]) => open.repeat(d) + JSON.stringify(s) + (open === '[' ? ']' : '}').repeat(d));

const jsonScan: FuzzTarget = {
  name: 'server JSON scan',
  property: fc.property(fc.oneof(nested, fc.json(), fc.string({ maxLength: 100 })), (text) => {
    const r = scanJson(text, { maxDepth: 16, maxStringChars: 20 });
    let valid: unknown;
    try {
      valid = JSON.parse(text);
    } catch {
      return true; // the scan need not judge syntax
    }
    const depth = (v: unknown): number =>
      typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0;
    const longest = (v: unknown): number =>
      typeof v === 'string'
        ? v.length
        : typeof v === 'object' && v !== null
          ? Math.max(
              0,
              ...Object.entries(v).flatMap(([k, x]) => [Array.isArray(v) ? 0 : k.length, longest(x)]),
            )
          : 0;
    // The scan counts escapes as one character, as JSON.parse decodes them (surrogate pairs as two).
    const over = depth(valid) > 16 || longest(valid) > 20;
    return (r !== null) === over;
  }),
};

const addresses: FuzzTarget = {
  name: 'address parsing',
  property: fc.property(
    fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4Extended(),
      fc.ipV4().map((a) => `::ffff:${a}`),
      fc.string({ maxLength: 20 }),
    ),
    (a) => {
      const v6 = parseIPv6(a);
      if ((v6 !== null) !== isIPv6(a)) throw new Error(`parseIPv6 disagrees with node on ${a}`);
      if (isIPv4(a) && parseIPv4(a)?.join('.') !== a) throw new Error(`parseIPv4 ${a}`);
      const v4 = parseIPv4(a);
      if (v4) {
        // Every spelling of an IPv4 address is judged like the address itself, mapped or not.
        const dotted = v4.join('.');
        if (isPublicAddress(a) !== isPublicAddress(dotted)) throw new Error(`spelling ${a}`);
        if (isPublicAddress(`::ffff:${dotted}`) !== isPublicAddress(dotted)) throw new Error(`mapped ${a}`);
        if (isPublicAddress(`64:ff9b::${dotted}`) !== isPublicAddress(dotted)) throw new Error(`nat64 ${a}`);
      }
      return true;
    },
  ),
};

let app: ReturnType<typeof createServer>['app'] | null = null;
const requests = fc.record({
  path: fc.constantFrom('/api/analyze', '/api/render', '/api/events', '/healthz', '/api/models', '/x'),
  method: fc.constantFrom('GET', 'POST', 'PUT'),
  query: fc.string({ maxLength: 30 }),
  body: formBody,
  json: fc.option(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))),
  origin: fc.option(fc.constantFrom('http://localhost', 'null', 'http://evil.example')),
});

const serverRequests: FuzzTarget = {
  name: 'server requests',
  property: fc.asyncProperty(requests, async (r) => {
    app ??= createServer({ model: fakeModel(), log: () => {}, allowUrls: false }).app;
    const headers: Record<string, string> = {
      host: 'localhost',
      'content-type': r.json !== null ? 'application/json' : r.body.type,
    };
    if (r.origin) headers.origin = r.origin;
    const res = await app.request(`http://localhost${r.path}?${encodeURIComponent(r.query)}`, {
      method: r.method,
      headers,
      body: r.method === 'GET' ? undefined : (r.json ?? r.body.body),
    });
    if (r.path === '/api/events' && res.status === 200) await res.body?.cancel();
    else await res.arrayBuffer();
    if (res.status >= 500 && res.status !== 503) throw new Error(`${res.status} for ${JSON.stringify(r)}`);
    return true;
  }),
};

export const TARGETS: FuzzTarget[] = [
  safetensorsHeader,
  safetensorsLength,
  shardIndex,
  configParsing,
  processorSizes,
  imageDecoder,
  formParsing,
  jsonScan,
  addresses,
  serverRequests,
];

export interface FuzzOutcome {
  name: string;
  runs: number;
  failed: boolean;
  counterexample?: string;
  error?: string;
}

/** Runs one target for about `ms` milliseconds (or `maxRuns`), reporting how many inputs were tried. */
export async function runTarget(
  t: FuzzTarget,
  ms: number,
  maxRuns = 1e9,
  seed?: number,
): Promise<FuzzOutcome> {
  const details = await fc.check(t.property, {
    numRuns: maxRuns,
    interruptAfterTimeLimit: ms,
    markInterruptAsFailure: false,
    seed,
  });
  return {
    name: t.name,
    runs: details.numRuns,
    failed: details.failed,
    counterexample: details.counterexample ? fc.stringify(details.counterexample) : undefined,
    error: details.errorInstance
      ? String((details.errorInstance as Error).stack ?? details.errorInstance)
      : undefined,
  };
}
