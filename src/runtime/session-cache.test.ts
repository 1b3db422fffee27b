// The session cache (src/runtime/session-cache.ts): a cached session gives bit-identical outputs to one built
// from the graph; truncated, stale (another onnxruntime version), tampered and foreign entries are detected and
// rebuilt, never used; two processes filling the same entry at once both succeed; a real model (the tiny-llava
// fixture) analyses to byte-identical JSON with and without its entries.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runThroughCache, testGraph, writeTestWeights } from '../../test/helpers/session-cache-child.js';
import { loadModel } from '../model.js';
import { Session, settleSessionCache } from './session.js';
import {
  MANIFEST_FILE,
  MODEL_FILE,
  SESSION_CACHE_FORMAT,
  SessionCache,
  WEIGHTS_FILE,
  ortVersion,
} from './session-cache.js';

const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-session-cache-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function fresh(): { cache: SessionCache; data: string } {
  const root = join(tmp, `t${n++}`);
  const data = join(root, 'data');
  rmSync(root, { recursive: true, force: true });
  const cache = new SessionCache(join(root, 'cache'));
  mkdirSync(data, { recursive: true });
  writeTestWeights(data);
  return { cache, data };
}

/** The one entry's folder. */
async function onlyEntry(cache: SessionCache): Promise<string> {
  const list = await cache.list();
  assert.equal(list.length, 1, `one entry, got ${list.length}`);
  return list[0].path;
}

/** Builds, stores, and checks that a second build is a verified hit with identical output. */
async function stored(cache: SessionCache, data: string): Promise<{ y: Float32Array; dir: string }> {
  const plain = await runThroughCache(null, data);
  const first = await runThroughCache(cache, data);
  assert.equal(first.session.cacheStatus, 'stored');
  assert.deepEqual(first.y, plain.y, 'the session that stored the entry computes what a plain one does');
  await plain.session.release();
  await first.session.release();
  return { y: plain.y, dir: await onlyEntry(cache) };
}

/** After damaging the entry, the next build must rebuild it (naming `why`) and still compute the same. */
async function expectRebuilt(cache: SessionCache, data: string, y: Float32Array, why: RegExp): Promise<void> {
  const again = await runThroughCache(cache, data);
  assert.equal(again.session.cacheStatus, 'rebuilt');
  assert.match(again.session.cacheProblem ?? '', why);
  assert.deepEqual(again.y, y);
  await again.session.release();
  const hit = await runThroughCache(cache, data);
  assert.equal(hit.session.cacheStatus, 'hit', 'the rebuilt entry is used next time');
  assert.deepEqual(hit.y, y);
  await hit.session.release();
}

describe('session cache', () => {
  test('a hit computes bit-identical outputs; the entry holds the graph, weights and manifest', async () => {
    const { cache, data } = fresh();
    const { y, dir } = await stored(cache, data);
    assert.deepEqual(readdirSync(dir).sort(), [MANIFEST_FILE, MODEL_FILE, WEIGHTS_FILE].sort());
    const hit = await runThroughCache(cache, data);
    assert.equal(hit.session.cacheStatus, 'hit');
    assert.deepEqual(hit.y, y, 'bit-identical');
    await hit.session.release();
    const [e] = await cache.list();
    assert.equal(e.problem, '');
    assert.equal(e.label, 'test graph');
    assert.equal(e.ortVersion, ortVersion());
    assert.equal(await cache.problem(e.key, undefined, true), '', 'full hash verifies');
    assert.deepEqual(
      readdirSync(cache.dir).filter((f) => f.startsWith('.')),
      [],
      'no temp folder left',
    );
  });

  test('a truncated weights file is detected and rebuilt', async () => {
    const { cache, data } = fresh();
    const { y, dir } = await stored(cache, data);
    truncateSync(join(dir, WEIGHTS_FILE), statSync(join(dir, WEIGHTS_FILE)).size - 100);
    await expectRebuilt(cache, data, y, /weights\.bin has \d+ bytes/);
  });

  test('an entry from another onnxruntime version is stale and rebuilt', async () => {
    const { cache, data } = fresh();
    const { y, dir } = await stored(cache, data);
    const path = join(dir, MANIFEST_FILE);
    const m = JSON.parse(readFileSync(path, 'utf8')) as { parts: { ortVersion: string } };
    m.parts.ortVersion = '1.17.0/1.17.0';
    writeFileSync(path, JSON.stringify(m));
    await expectRebuilt(cache, data, y, /built by onnxruntime 1\.17\.0/);
  });

  test('tampered files are detected even with their mtime put back', async () => {
    for (const file of [MODEL_FILE, WEIGHTS_FILE]) {
      const { cache, data } = fresh();
      const { y, dir } = await stored(cache, data);
      const path = join(dir, file);
      const st = statSync(path);
      const bytes = readFileSync(path);
      bytes[bytes.length >> 1] ^= 0x55;
      writeFileSync(path, bytes);
      utimesSync(path, st.atimeMs / 1000, st.mtimeMs / 1000);
      await expectRebuilt(cache, data, y, new RegExp(`${file.replace('.', '\\.')} fails its hash`));
    }
  });

  test('an entry that passes its checks but that onnxruntime refuses is rebuilt', async () => {
    const { cache, data } = fresh();
    const { y, dir } = await stored(cache, data);
    // A consistent forgery: garbage model.onnx with a manifest rewritten to match it.
    const path = join(dir, MODEL_FILE);
    writeFileSync(path, Buffer.from('not an onnx model'));
    const st = statSync(path);
    const mPath = join(dir, MANIFEST_FILE);
    const m = JSON.parse(readFileSync(mPath, 'utf8')) as {
      model: { size: number; mtimeMs: number; sha256: string };
    };
    m.model = {
      size: st.size,
      mtimeMs: st.mtimeMs,
      sha256: createHash('sha256').update(readFileSync(path)).digest('hex'),
    };
    writeFileSync(mPath, JSON.stringify(m));
    await expectRebuilt(cache, data, y, /onnxruntime could not load it/);
  });

  test('a file modified in place is detected by its mtime', async () => {
    const { cache, data } = fresh();
    const { y, dir } = await stored(cache, data);
    const path = join(dir, WEIGHTS_FILE);
    const bytes = readFileSync(path);
    bytes[0] ^= 1;
    writeFileSync(path, bytes);
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    await expectRebuilt(cache, data, y, /modified after it was written/);
  });

  test('a changed checkpoint file gives another key; the old entry is not used for it', async () => {
    const { cache, data } = fresh();
    await stored(cache, data);
    const w = join(data, 'w.bin');
    const bytes = readFileSync(w);
    bytes[0] ^= 1; // one weight changes
    writeFileSync(w, bytes);
    utimesSync(w, new Date(), new Date(Date.now() + 5000));
    const plain = await runThroughCache(null, data);
    const r = await runThroughCache(cache, data);
    assert.equal(r.session.cacheStatus, 'stored', 'a new entry, not the old one');
    assert.deepEqual(r.y, plain.y);
    assert.equal((await cache.list()).length, 2);
    await plain.session.release();
    await r.session.release();
  });

  test('each label keeps its two most recently used entries; other labels are untouched', async () => {
    const { cache, data } = fresh();
    const w = join(data, 'w.bin');
    const keys: string[] = [];
    const buildVersion = async (v: number): Promise<string> => {
      utimesSync(w, new Date(), new Date(Date.UTC(2026, 0, 1 + v))); // another file identity: another key
      const r = await runThroughCache(cache, data);
      assert.equal(r.session.cacheStatus, 'stored', `version ${v}`);
      await r.session.release();
      const key = (await cache.list()).map((e) => e.key).find((k) => !keys.includes(k))!;
      keys.push(key);
      return key;
    };
    // An entry of another label, never pruned by this one's.
    const other = await Session.create(testGraph(), {
      cache,
      externalDataDir: data,
      externalFiles: [w],
      cacheLabel: 'another graph',
      graphOptimizationLevel: 'basic', // another key
    });
    await other.release();
    const otherKey = (await cache.list())[0].key;
    keys.push(otherKey);
    const v1 = await buildVersion(1);
    const v2 = await buildVersion(2);
    // v1 is used again (a hit refreshes it), then v3 arrives: v2 is now the least recently used, and goes.
    utimesSync(w, new Date(), new Date(Date.UTC(2026, 0, 2)));
    const hit = await runThroughCache(cache, data);
    assert.equal(hit.session.cacheStatus, 'hit');
    await hit.session.release();
    const past = new Date(Date.now() - 60_000);
    utimesSync(cache.entryPath(v2), past, past); // v2 last used a minute ago, v1 just now
    const v3 = await buildVersion(3);
    const left = (await cache.list()).map((e) => e.key).sort();
    assert.deepEqual(left, [otherKey, v1, v3].sort(), `v2 (${v2}) pruned`);
  });

  test('an entry of an older cache format is rebuilt, never used', async () => {
    const { cache, data } = fresh();
    const { y, dir } = await stored(cache, data);
    const path = join(dir, MANIFEST_FILE);
    const m = JSON.parse(readFileSync(path, 'utf8')) as { parts: { format: number } };
    m.parts.format = SESSION_CACHE_FORMAT - 1;
    writeFileSync(path, JSON.stringify(m));
    await expectRebuilt(
      cache,
      data,
      y,
      new RegExp(`cache format ${SESSION_CACHE_FORMAT - 1}, not ${SESSION_CACHE_FORMAT}`),
    );
  });

  test('pruning removes an entry of another format before a less recently used one of this format', async () => {
    const { cache, data } = fresh();
    const w = join(data, 'w.bin');
    const build = async (v: number): Promise<string> => {
      const before = new Set((await cache.list()).map((e) => e.key));
      utimesSync(w, new Date(), new Date(Date.UTC(2026, 1, 1 + v)));
      const r = await runThroughCache(cache, data);
      await r.session.release();
      return (await cache.list()).map((e) => e.key).find((k) => !before.has(k))!;
    };
    const old = await build(1);
    const path = join(cache.entryPath(old), MANIFEST_FILE);
    const m = JSON.parse(readFileSync(path, 'utf8')) as { parts: { format: number } };
    m.parts.format = SESSION_CACHE_FORMAT - 1;
    writeFileSync(path, JSON.stringify(m));
    const soon = new Date(Date.now() + 3_600_000);
    utimesSync(cache.entryPath(old), soon, soon); // "used" more recently than anything else
    const v2 = await build(2);
    const v3 = await build(3);
    assert.deepEqual((await cache.list()).map((e) => e.key).sort(), [v2, v3].sort());
  });

  test('sealInBackground: the session comes back first, settleSessionCache() waits for its entry', async () => {
    const { cache, data } = fresh();
    const plain = await runThroughCache(null, data);
    const s = await Session.create(testGraph(), {
      cache,
      externalDataDir: data,
      externalFiles: [join(data, 'w.bin')],
      cacheLabel: 'test graph',
      sealInBackground: true,
    });
    assert.equal(s.cacheStatus, 'stored');
    await settleSessionCache();
    assert.equal((await cache.list()).length, 1, 'the entry is in place once settled');
    assert.equal((await cache.list())[0].problem, '');
    const hit = await runThroughCache(cache, data);
    assert.equal(hit.session.cacheStatus, 'hit');
    assert.deepEqual(hit.y, plain.y);
    for (const x of [s, hit.session, plain.session]) await x.release();
  });

  test("a dead process's temp folder is removed when an entry is stored; a live one's is kept", async () => {
    const { cache, data } = fresh();
    mkdirSync(cache.dir, { recursive: true });
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    const dead = join(cache.dir, `.tmp-0123abcd-${deadPid}-x`);
    const live = join(cache.dir, `.tmp-0123abcd-${process.pid}-y`);
    mkdirSync(dead);
    mkdirSync(live);
    writeFileSync(join(dead, WEIGHTS_FILE), 'partial');
    await stored(cache, data);
    assert.deepEqual(
      readdirSync(cache.dir).filter((n) => n.startsWith('.')),
      [`.tmp-0123abcd-${process.pid}-y`],
    );
  });

  test('two processes filling the cache at once both succeed', async () => {
    const { cache, data } = fresh();
    const child = (): Promise<{ status: string; y: number[] }> =>
      new Promise((resolve, reject) => {
        const p = spawn(
          process.execPath,
          ['--import', 'tsx', 'test/helpers/session-cache-child.ts', cache.dir, data],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.on('error', reject);
        p.on('close', (code) =>
          code === 0
            ? resolve(JSON.parse(out) as { status: string; y: number[] })
            : reject(new Error(`child exited ${code}`)),
        );
      });
    const [a, b] = await Promise.all([child(), child()]);
    assert.deepEqual(a.y, b.y);
    for (const s of [a.status, b.status]) assert.ok(['stored', 'built', 'hit'].includes(s), s);
    const plain = await runThroughCache(null, data);
    assert.deepEqual(a.y, [...plain.y]);
    await plain.session.release();
    await onlyEntry(cache);
    assert.deepEqual(
      readdirSync(cache.dir).filter((f) => f.startsWith('.')),
      [],
      'no temp folder left',
    );
    const hit = await runThroughCache(cache, data);
    assert.equal(hit.session.cacheStatus, 'hit');
    await hit.session.release();
  });

  test('clear() removes every entry', async () => {
    const { cache, data } = fresh();
    await stored(cache, data);
    const r = await cache.clear();
    assert.equal(r.entries, 1);
    assert.ok(r.bytes > 0);
    assert.deepEqual(await cache.list(), []);
  });

  test('IMGTOKENS_SESSION_CACHE and HF_HOME place the cache; off turns it off', () => {
    assert.equal(SessionCache.fromEnv({ IMGTOKENS_SESSION_CACHE: 'off' }), null);
    assert.equal(SessionCache.fromEnv({ IMGTOKENS_SESSION_CACHE: '/x/s' })?.dir, '/x/s');
    assert.equal(SessionCache.fromEnv({ HF_HOME: '/h' })?.dir, '/h/imgtokens/sessions');
    assert.equal(SessionCache.fromEnv({ HF_HOME: '/h', IMGTOKENS_TENSOR_CACHE: '/t' })?.dir, '/t/sessions');
  });

  test('tiny-llava: results with the cache entries are byte-identical to results without', async () => {
    const model = 'test/fixtures/llava/tiny-llava';
    const image = 'test/fixtures/llava/images/shapes_120x80.png';
    const dir = join(tmp, 'model-cache');
    const run = async (sessionCache: string | false): Promise<string> => {
      const m = await loadModel(model, { sessionCache });
      const out = [];
      for (const method of ['cosine', 'omp', 'logit'] as const)
        out.push(await m.analyze(image, { method, k: 5 }));
      await m.close();
      return JSON.stringify(out);
    };
    const plain = await run(false);
    const first = await run(dir); // stores the vision and projection sessions
    const entries = await new SessionCache(dir).list();
    assert.ok(entries.length >= 2, `vision + lens entries, got ${entries.map((e) => e.label).join(', ')}`);
    for (const e of entries) assert.equal(e.problem, '', e.label);
    const created = entries.map((e) => e.created);
    const second = await run(dir); // loads them
    assert.deepEqual(
      (await new SessionCache(dir).list()).map((e) => e.created),
      created,
      'the second run used the entries',
    );
    assert.equal(first, plain);
    assert.equal(second, plain, 'byte-identical JSON');
  });
});

test('imgtokens cache ls / verify / rm --sessions', async () => {
  const { cache, data } = fresh();
  await stored(cache, data);
  const { runCache } = await import('../cli/commands.js');
  const saved = process.env.IMGTOKENS_SESSION_CACHE;
  const savedHome = process.env.HF_HOME;
  process.env.IMGTOKENS_SESSION_CACHE = cache.dir;
  process.env.HF_HOME = join(tmp, 'empty-hf-home');
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    assert.equal(await runCache(['ls']), 0);
    assert.match(out, /session cache .*: 1 entries/);
    assert.match(out, /test graph/);
    out = '';
    assert.equal(await runCache(['verify']), 0);
    assert.match(out, /\tok\n/);
    out = '';
    assert.equal(await runCache(['rm', '--sessions']), 0);
    assert.match(out, /removed 1 entries/);
    assert.deepEqual(await cache.list(), []);
  } finally {
    process.stdout.write = write;
    if (saved === undefined) delete process.env.IMGTOKENS_SESSION_CACHE;
    else process.env.IMGTOKENS_SESSION_CACHE = saved;
    if (savedHome === undefined) delete process.env.HF_HOME;
    else process.env.HF_HOME = savedHome;
  }
});
