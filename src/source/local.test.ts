/**
 * Checkpoint validation (issue 2) and dtype conversion: malformed safetensors files written to a temp dir
 * must fail with a CheckpointError naming the file and the tensor; F16/BF16/F32 decode exactly.
 */
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CheckpointError, MissingTensorError, type ImgTokensError } from '../errors.js';
import { loadModel } from '../model.js';
import { parseNpy } from '../util/npy.js';
import { LocalSource } from './local.js';
import { tensorToFloat32, toFloat32 } from './safetensors.js';
import {
  buildSafetensors,
  f32ToBf16Bits,
  u16Bytes,
  writeIndex,
  writeSafetensors,
  type BuildOptions,
  type HeaderEntry,
  type WriterTensor,
} from '../../test/helpers/safetensors-writer.js';

const FIX = 'test/fixtures/llava';
/** A plain Uint8Array copy (older parseNpy mis-read Node Buffer views: `Buffer#slice` is not a copy). */
async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}
const root = mkdtempSync(join(tmpdir(), 'imgtokens-local-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function modelDir(): string {
  const d = join(root, `m${n++}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'config.json'), '{}');
  return d;
}

const TENSORS: WriterTensor[] = [
  { name: 'a.weight', dtype: 'F32', shape: [4, 3] },
  { name: 'b.weight', dtype: 'F16', shape: [5] },
  { name: 'c.bias', dtype: 'BF16', shape: [2, 2] },
];

function single(opts?: BuildOptions, mutate?: (b: Uint8Array) => Uint8Array): string {
  const d = modelDir();
  const bytes = buildSafetensors(TENSORS, opts);
  writeFileSync(join(d, 'model.safetensors'), mutate ? mutate(bytes) : bytes);
  return d;
}

function entry(h: Record<string, unknown>, name: string): HeaderEntry {
  return h[name] as HeaderEntry;
}

async function rejectsWith(
  dir: string,
  cls: new (...args: never[]) => ImgTokensError,
  mustMention: readonly string[],
): Promise<void> {
  const src = new LocalSource(dir);
  await assert.rejects(
    () => src.tensorIndex(),
    (e: unknown) => {
      assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
      for (const s of mustMention)
        assert.ok((e as Error).message.includes(s), `"${(e as Error).message}" names ${s}`);
      return true;
    },
  );
}

describe('local checkpoint validation', () => {
  test('a well-formed file round-trips', async () => {
    const d = single();
    const src = new LocalSource(d);
    const idx = await src.tensorIndex();
    assert.deepEqual([...idx.keys()], ['a.weight', 'b.weight', 'c.bias']);
    const t = await src.readTensors(['b.weight']);
    assert.equal(t.get('b.weight')!.bytes.byteLength, 10);
  });

  test('truncated file (under 8 bytes)', async () => {
    const d = single({}, (b) => b.subarray(0, 5));
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'truncated']);
  });

  test('header length past the end of the file', async () => {
    const d = single({ declaredHeaderLength: 1_000_000 });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'past the end']);
  });

  test('absurd header length', async () => {
    const d = single({ declaredHeaderLength: 2n ** 63n });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'header length']);
  });

  test('data truncated: last tensor runs past the end', async () => {
    const d = single({}, (b) => b.subarray(0, b.byteLength - 3));
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'c.bias', 'past the end']);
  });

  test('overlapping offsets', async () => {
    const d = single({
      editHeader: (h) => {
        entry(h, 'b.weight').data_offsets = [40, 50]; // a.weight is [0, 48)
      },
    });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'a.weight', 'b.weight', 'overlap']);
  });

  test('out-of-range offsets', async () => {
    const d = single({
      editHeader: (h) => {
        entry(h, 'c.bias').data_offsets = [1000, 1008];
      },
    });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'c.bias', 'past the end']);
  });

  test('reversed offsets', async () => {
    const d = single({
      editHeader: (h) => {
        entry(h, 'b.weight').data_offsets = [58, 48];
      },
    });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'b.weight', 'data_offsets']);
  });

  test('unknown dtype', async () => {
    const d = single({
      editHeader: (h) => {
        entry(h, 'b.weight').dtype = 'F12';
      },
    });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'b.weight', 'unknown dtype "F12"']);
  });

  test('unsupported (known) dtype', async () => {
    const d = single({
      editHeader: (h) => {
        entry(h, 'b.weight').dtype = 'I64';
        entry(h, 'b.weight').shape = [1];
        entry(h, 'b.weight').data_offsets = [48, 56];
      },
    });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'b.weight', 'unsupported dtype "I64"']);
  });

  test('wrong byte length for the shape', async () => {
    const d = single({
      editHeader: (h) => {
        entry(h, 'a.weight').shape = [4, 4];
      },
    });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'a.weight', 'needs 64']);
  });

  test('invalid shape', async () => {
    const d = single({
      editHeader: (h) => {
        entry(h, 'a.weight').shape = [4, -3];
      },
    });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'a.weight', 'shape']);
  });

  test('invalid JSON', async () => {
    const d = single({ headerText: '{"a.weight": {"dtype": "F32", ' });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'not valid JSON']);
  });

  test('header is not an object', async () => {
    const d = single({ headerText: '[1, 2, 3]' });
    await rejectsWith(d, CheckpointError, ['model.safetensors', 'not a JSON object']);
  });

  test('an empty tensor sharing an offset is not an overlap', async () => {
    const d = single({
      editHeader: (h) => {
        h['empty'] = { dtype: 'F32', shape: [0], data_offsets: [48, 48] };
      },
    });
    const idx = await new LocalSource(d).tensorIndex();
    assert.equal(idx.get('empty')!.end - idx.get('empty')!.begin, 0);
  });

  function sharded(files: Record<string, WriterTensor[]>, weightMap?: Record<string, string>): string {
    const d = modelDir();
    const wm: Record<string, string> = {};
    for (const [f, ts] of Object.entries(files)) {
      writeSafetensors(join(d, f), ts);
      for (const t of ts) wm[t.name] = f;
    }
    writeIndex(join(d, 'model.safetensors.index.json'), weightMap ?? wm);
    return d;
  }

  test('missing shard listed in the index', async () => {
    const d = sharded({ 's1.safetensors': [TENSORS[0]], 's2.safetensors': [TENSORS[1]] });
    rmSync(join(d, 's2.safetensors'));
    await rejectsWith(d, CheckpointError, ['s2.safetensors', 'b.weight', 'missing']);
  });

  test('duplicate tensor across shards', async () => {
    const d = sharded({ 's1.safetensors': [TENSORS[0], TENSORS[1]], 's2.safetensors': [TENSORS[1]] });
    await rejectsWith(d, CheckpointError, ['s1.safetensors', 's2.safetensors', 'b.weight', 'both']);
  });

  test('index lists a tensor in the wrong shard', async () => {
    const d = sharded(
      { 's1.safetensors': [TENSORS[0]], 's2.safetensors': [TENSORS[1]] },
      { 'a.weight': 's1.safetensors', 'b.weight': 's1.safetensors', 'x.y': 's2.safetensors' },
    );
    await rejectsWith(d, CheckpointError, ['s1.safetensors', 'b.weight', 'in s2.safetensors']);
  });

  test('index with a path-escaping shard name', async () => {
    const d = modelDir();
    writeIndex(join(d, 'model.safetensors.index.json'), { 'a.weight': '../outside.safetensors' });
    await rejectsWith(d, CheckpointError, ['a.weight', 'invalid shard file']);
  });

  test('unknown tensor name is a MissingTensorError', async () => {
    const src = new LocalSource(single());
    await assert.rejects(() => src.readTensors(['nope']), MissingTensorError);
  });
});

describe('dtype conversion', () => {
  test('F16 fixture embed_tokens equals expected/embed_tokens.npy exactly', async () => {
    const src = new LocalSource(`${FIX}/tiny-llava-next`);
    const idx = await src.tensorIndex();
    assert.equal(idx.get('language_model.model.embed_tokens.weight')!.dtype, 'F16');
    const t = (await src.readTensors(['language_model.model.embed_tokens.weight'])).get(
      'language_model.model.embed_tokens.weight',
    )!;
    const want = parseNpy(await readBytes(`${FIX}/tiny-llava-next/expected/embed_tokens.npy`));
    assert.deepEqual(t.info.shape, want.shape);
    assert.deepEqual(tensorToFloat32(t), want.data);
  });

  test('F32 fixture embed_tokens equals expected/embed_tokens.npy exactly', async () => {
    const src = new LocalSource(`${FIX}/tiny-llava`);
    const t = (await src.readTensors(['language_model.model.embed_tokens.weight'])).get(
      'language_model.model.embed_tokens.weight',
    )!;
    assert.equal(t.info.dtype, 'F32');
    const want = parseNpy(await readBytes(`${FIX}/tiny-llava/expected/embed_tokens.npy`));
    assert.deepEqual(tensorToFloat32(t), want.data);
  });

  test('F16 special values', () => {
    const bits = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x8000, 0x3555];
    const got = toFloat32(u16Bytes(bits), 'F16');
    const want = [1, -2, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity, -0, Math.fround(0.333251953125)];
    assert.deepEqual([...got], want);
    assert.ok(Object.is(got[7], -0));
    assert.ok(Number.isNaN(toFloat32(u16Bytes([0x7e00]), 'F16')[0]));
  });

  test('a synthesized BF16 tensor decodes to the BF16-rounded F32 values', async () => {
    // Values from the F32 fixture, rounded to BF16 with round-to-nearest-even (as torch does).
    const src = new LocalSource(`${FIX}/tiny-llava`);
    const name = 'language_model.model.embed_tokens.weight';
    const f32 = tensorToFloat32((await src.readTensors([name])).get(name)!);
    const bits = Array.from(f32, f32ToBf16Bits);
    const d = modelDir();
    writeSafetensors(join(d, 'model.safetensors'), [
      { name: 'w', dtype: 'BF16', shape: [512, 48], data: u16Bytes(bits) },
      {
        name: 'special',
        dtype: 'BF16',
        shape: [6],
        data: u16Bytes([0x3f80, 0xc020, 0x4049, 0x0001, 0x7f80, 0x8000]),
      },
    ]);
    const got = await new LocalSource(d).readTensors(['w', 'special']);
    const w = tensorToFloat32(got.get('w')!);
    let maxRel = 0;
    for (let i = 0; i < f32.length; i++) {
      // the decoded value is exactly the truncated-bits float, and within BF16's half-ulp of the source
      assert.equal(w[i], new Float32Array(new Uint32Array([bits[i] << 16]).buffer)[0]);
      if (f32[i] !== 0) maxRel = Math.max(maxRel, Math.abs(w[i] - f32[i]) / Math.abs(f32[i]));
    }
    assert.ok(maxRel <= 2 ** -8, `max relative error ${maxRel}`);
    assert.deepEqual([...tensorToFloat32(got.get('special')!)], [1, -2.5, 3.140625, 2 ** -133, Infinity, -0]);
  });

  test('a byte length that is not a whole number of values is rejected', () => {
    assert.throws(() => toFloat32(new Uint8Array(3), 'F16'), RangeError);
  });
});

test('an HF snapshot folder (files are symlinks into ../../blobs) is read in place at the real files', async () => {
  // onnxruntime refuses external data whose resolved path leaves the session's folder, as a symlink does.
  const repo = mkdtempSync(join(tmpdir(), 'imgtokens-snapshot-'));
  try {
    const src = realpathSync(`${FIX}/tiny-llava`);
    const snap = join(repo, 'snapshots', 'c'.repeat(40));
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(snap, { recursive: true });
    for (const f of readdirSync(src).filter((f) => f.includes('.'))) {
      writeFileSync(join(repo, 'blobs', f), await readFile(join(src, f)));
      symlinkSync(join('..', '..', 'blobs', f), join(snap, f));
    }
    const locs = await new LocalSource(snap).tensorLocations(['multi_modal_projector.linear_1.weight']);
    const at = locs.get('multi_modal_projector.linear_1.weight')!;
    assert.equal(at.dir, realpathSync(join(repo, 'blobs')));
    assert.equal(at.location, 'model.safetensors');
    const analyze = async (dir: string): Promise<unknown> => {
      const m = await loadModel(dir);
      try {
        const r = await m.analyze(`${FIX}/images/shapes_120x80.png`, { method: 'logit', k: 3 });
        return { ...r, model: { ...r.model, id: undefined } };
      } finally {
        await m.close();
      }
    };
    assert.deepEqual(await analyze(snap), await analyze(src));
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
});
