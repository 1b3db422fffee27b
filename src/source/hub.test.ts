/**
 * HubSource against a local fake hub (test/helpers/hub-server.ts): byte-identical tensors to LocalSource, exact
 * bytes on the wire, resume, offline, corrupt-cache recovery, auth/404 messages, retries. No real network and
 * no real ~/.cache: every test uses a fresh temp HF_HOME.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { AuthError, CheckpointError, NetworkError, NotFoundError } from '../errors.js';
import type { ProgressEvent } from '../progress.js';
import { FakeHub, bytesFile, repoFromDir } from '../../test/helpers/hub-server.js';
import { hubSettingsFromEnv } from './hub-env.js';
import { HubSource, coalesceRanges, parseRepoRef, type HubSourceOptions } from './hub.js';
import { LocalSource } from './local.js';
import type { RawTensor } from './types.js';

const FIX = 'test/fixtures/llava';
const COMMIT_A = 'a'.repeat(40);
const COMMIT_B = 'b'.repeat(40);
const hub = new FakeHub();
let home = '';
let n = 0;

before(async () => {
  await hub.start();
  hub.repos.set('tiny/llava', repoFromDir(`${FIX}/tiny-llava`, COMMIT_A));
  hub.repos.set('tiny/llava-next', repoFromDir(`${FIX}/tiny-llava-next`, COMMIT_B));
  hub.repos.set('gated/llava', { ...repoFromDir(`${FIX}/tiny-llava`, COMMIT_A), gatedToken: 'hf_secret' });
});
after(() => hub.stop());
const root = mkdtempSync(join(tmpdir(), 'imgtokens-hub-'));
after(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  home = join(root, `home${n++}`);
  hub.resetLog();
  hub.faults = [];
  hub.chunkDelayMs = 0;
  hub.chunkBytes = 1 << 16;
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { HF_HOME: home, HF_ENDPOINT: hub.endpoint, ...extra };
}
function source(id: string, opts: HubSourceOptions = {}, extraEnv: Record<string, string> = {}): HubSource {
  return new HubSource(id, { env: env(extraEnv), backoffMs: 1, ...opts });
}
function sameTensors(a: Map<string, RawTensor>, b: Map<string, RawTensor>): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, t] of a) {
    assert.deepEqual(t.info, b.get(k)!.info, k);
    assert.ok(Buffer.from(t.bytes).equals(Buffer.from(b.get(k)!.bytes)), `${k} bytes differ`);
  }
}
async function allLocal(dir: string): Promise<{ names: string[]; tensors: Map<string, RawTensor> }> {
  const local = new LocalSource(dir);
  const names = [...(await local.tensorIndex()).keys()];
  return { names, tensors: await local.readTensors(names) };
}
const cdnBytes = (): number =>
  hub.log.filter((r) => r.path.startsWith('/cdn/')).reduce((a, r) => a + r.bytes, 0);
const rangeFiles = (repoDir: string): string[] => {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(join(d, e.name));
  };
  walk(repoDir);
  return out.filter((p) => /\d+-\d+\.bin$/.test(p));
};

describe('repo ids and ranges', () => {
  test('parseRepoRef', () => {
    assert.deepEqual(parseRepoRef('llava-hf/llava-1.5-7b-hf'), { repo: 'llava-hf/llava-1.5-7b-hf' });
    assert.deepEqual(parseRepoRef('org/name@v1.0'), { repo: 'org/name', revision: 'v1.0' });
    assert.deepEqual(parseRepoRef('org/name@refs/pr/3'), { repo: 'org/name', revision: 'refs/pr/3' });
    for (const bad of [
      'name',
      'a/b/c',
      'org--x/name',
      'org/na..me',
      '/abs',
      'org/name@',
      'org/name.git',
      'o rg/x',
    ])
      assert.equal(parseRepoRef(bad), undefined, bad);
  });

  test('coalesceRanges merges within the gap and under the cap', () => {
    const r = [
      { begin: 100, end: 200 },
      { begin: 0, end: 50 },
      { begin: 250, end: 300 },
      { begin: 1000, end: 1100 },
    ];
    assert.deepEqual(coalesceRanges(r, 0, 1e9), [
      { begin: 0, end: 50 },
      { begin: 100, end: 200 },
      { begin: 250, end: 300 },
      { begin: 1000, end: 1100 },
    ]);
    assert.deepEqual(coalesceRanges(r, 50, 1e9), [
      { begin: 0, end: 300 },
      { begin: 1000, end: 1100 },
    ]);
    assert.deepEqual(coalesceRanges(r, 1000, 250), [
      { begin: 0, end: 200 },
      { begin: 250, end: 300 },
      { begin: 1000, end: 1100 },
    ]);
  });
});

describe('hub settings from the environment', () => {
  test('HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN, HF_TOKEN_PATH', () => {
    const s = hubSettingsFromEnv({
      HF_HOME: '/h',
      HF_ENDPOINT: 'https://mirror.example/',
      HF_HUB_OFFLINE: 'true',
    });
    assert.deepEqual(
      [s.hubCache, s.tensorCache, s.endpoint, s.offline, s.token],
      ['/h/hub', '/h/imgtokens', 'https://mirror.example', true, undefined],
    );
    assert.equal(hubSettingsFromEnv({ HF_HOME: '/h', HF_HUB_CACHE: '/x/hub2' }).tensorCache, '/x/imgtokens');
    assert.equal(hubSettingsFromEnv({ XDG_CACHE_HOME: '/c' }).hubCache, '/c/huggingface/hub');
    assert.equal(hubSettingsFromEnv({ HF_HOME: '/h', HF_HUB_OFFLINE: '0' }).offline, false);
    const tokenFile = join(root, 'tok');
    writeFileSync(tokenFile, ' hf_file\n');
    const t = hubSettingsFromEnv({ HF_HOME: '/nonexistent', HF_TOKEN_PATH: tokenFile });
    assert.deepEqual([t.token, t.tokenSource], ['hf_file', tokenFile]);
    assert.equal(hubSettingsFromEnv({ HF_TOKEN: 'hf_env', HF_TOKEN_PATH: tokenFile }).token, 'hf_env');
  });
});

describe('HubSource', () => {
  for (const [id, dir, commit] of [
    ['tiny/llava', 'tiny-llava', COMMIT_A],
    ['tiny/llava-next', 'tiny-llava-next', COMMIT_B],
  ] as const) {
    test(`${id}: tensors are byte-identical to LocalSource; small files land in the HF cache layout`, async () => {
      const { names, tensors } = await allLocal(`${FIX}/${dir}`);
      const src = source(id);
      sameTensors(await src.readTensors(names), tensors);
      const config = await src.readFile('config.json');
      assert.deepEqual(Buffer.from(config!), readFileSync(`${FIX}/${dir}/config.json`));
      const repoDir = join(home, 'hub', `models--${id.replace('/', '--')}`);
      assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), commit);
      const link = readlinkSync(join(repoDir, 'snapshots', commit, 'config.json'));
      assert.match(link, /^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/);
      assert.equal(await src.readFile('no-such-file.json'), null);
      assert.ok(existsSync(join(repoDir, '.no_exist', commit, 'no-such-file.json')));
      // the CDN (another origin) never saw a token; nothing was sent to it without Range
      assert.ok(hub.log.filter((r) => r.path.startsWith('/cdn/')).every((r) => r.range && !r.authorization));
    });
  }

  test('bytes on the wire: exactly the headers, the index and the chosen tensors', async () => {
    const local = new LocalSource(`${FIX}/tiny-llava-next`);
    const idx = await local.tensorIndex();
    const names = [
      'image_newline',
      'language_model.model.embed_tokens.weight',
      'language_model.lm_head.weight',
      'language_model.model.norm.weight',
      'multi_modal_projector.linear_2.weight',
    ];
    const headerBytes = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']
      .map((f) => 8 + Number(readFileSync(`${FIX}/tiny-llava-next/${f}`).readBigUint64LE(0)))
      .reduce((a, b) => a + b);
    const indexBytes = readFileSync(`${FIX}/tiny-llava-next/model.safetensors.index.json`).byteLength;
    const tensorBytes = names.map((k) => idx.get(k)!).reduce((a, t) => a + t.end - t.begin, 0);

    // gap 0: only the tensors' own bytes
    await source('tiny/llava-next', { gapBytes: 0 }).readTensors(names);
    assert.equal(hub.bytesSent, indexBytes + headerBytes + tensorBytes);
    assert.equal(cdnBytes(), headerBytes + tensorBytes);

    // default 1 MiB gap: one range per file, from its first needed tensor to its last
    home = join(root, `home${n++}`);
    hub.resetLog();
    await source('tiny/llava-next').readTensors(names);
    let spans = 0;
    for (const f of new Set(names.map((k) => idx.get(k)!.file))) {
      const ts = names.map((k) => idx.get(k)!).filter((t) => t.file === f);
      spans += Math.max(...ts.map((t) => t.end)) - Math.min(...ts.map((t) => t.begin));
    }
    assert.equal(hub.bytesSent, indexBytes + headerBytes + spans);
    assert.equal(hub.log.filter((r) => r.path.startsWith('/cdn/')).length, 2 * 2 + 2); // 2 header reads + 1 range per shard

    // a second source on the same cache sends nothing but the revision check
    hub.resetLog();
    const again = await source('tiny/llava-next').readTensors(names);
    assert.equal(hub.bytesSent, 0);
    assert.deepEqual(
      hub.log.map((r) => r.method),
      ['HEAD'],
    );
    sameTensors(again, await local.readTensors(names));
  });

  test('progress events: initiate, progress with rate and ETA, done (slow endpoint)', async () => {
    hub.chunkBytes = 8192;
    hub.chunkDelayMs = 15;
    const events: ProgressEvent[] = [];
    const name = 'language_model.model.embed_tokens.weight';
    await source('tiny/llava').readTensors([name], (e) => events.push(e));
    assert.equal(events[0].status, 'initiate');
    assert.equal(events.at(-1)!.status, 'done');
    const progress = events.filter((e) => e.status === 'progress');
    assert.ok(progress.length >= 2, `${progress.length} progress events`);
    const last = progress.at(-1)!;
    assert.ok(last.status === 'progress' && last.done === last.total && last.total === 98304);
    assert.ok(progress.every((e) => e.status === 'progress' && e.rate! > 0 && e.etaSeconds! >= 0));
  });

  test('an interrupted range resumes where it stopped (in-process retry and across runs)', async () => {
    const name = 'language_model.model.embed_tokens.weight'; // tiny-llava: F32 [512, 48] = 98304 bytes
    const { tensors } = await allLocal(`${FIX}/tiny-llava`);
    const info = tensors.get(name)!.info;
    const isTensorRange = (p: string, r?: string): boolean =>
      p.startsWith('/cdn/') && r === `bytes=${info.begin}-${info.end - 1}`;

    // 1. in-process: the connection drops after 40000 bytes; the retry asks for the rest only
    const src = source('tiny/llava');
    await src.tensorIndex();
    hub.resetLog();
    hub.faults = [{ match: isTensorRange, disconnectAfter: 40000 }];
    const got = await src.readTensors([name]);
    assert.ok(Buffer.from(got.get(name)!.bytes).equals(Buffer.from(tensors.get(name)!.bytes)));
    const cdn = hub.log.filter((r) => r.path.startsWith('/cdn/'));
    assert.deepEqual(
      cdn.map((r) => r.range),
      [`bytes=${info.begin}-${info.end - 1}`, `bytes=${info.begin + 40000}-${info.end - 1}`],
    );
    assert.equal(cdnBytes(), 98304); // nothing re-sent

    // 2. across runs: a run killed mid-range (retries exhausted) leaves a .part; the next run resumes it
    home = join(root, `home${n++}`);
    const first = source('tiny/llava', { retries: 0 });
    await first.tensorIndex();
    hub.faults = [{ match: isTensorRange, disconnectAfter: 30000 }];
    await assert.rejects(() => first.readTensors([name]), NetworkError);
    const parts = readdirSync(join(home, 'imgtokens', 'models--tiny--llava', COMMIT_A, 'model.safetensors'));
    const part = parts.find((f) => f.endsWith('.part'))!;
    assert.equal(
      statSync(join(home, 'imgtokens', 'models--tiny--llava', COMMIT_A, 'model.safetensors', part)).size,
      30000,
    );
    hub.resetLog();
    const second = await source('tiny/llava').readTensors([name]);
    assert.ok(Buffer.from(second.get(name)!.bytes).equals(Buffer.from(tensors.get(name)!.bytes)));
    assert.deepEqual(
      hub.log.filter((r) => r.path.startsWith('/cdn/')).map((r) => r.range),
      [`bytes=${info.begin + 30000}-${info.end - 1}`],
    );
    assert.equal(cdnBytes(), 98304 - 30000);
  });

  test('offline: HF_HUB_OFFLINE=1, and a stopped server, both work from a complete cache', async () => {
    const { names, tensors } = await allLocal(`${FIX}/tiny-llava-next`);
    await source('tiny/llava-next').readTensors(names);
    await source('tiny/llava-next').readFile('tokenizer.json');
    hub.resetLog();
    const off = source('tiny/llava-next', {}, { HF_HUB_OFFLINE: '1' });
    sameTensors(await off.readTensors(names), tensors);
    assert.ok(await off.readFile('tokenizer.json'));
    assert.equal(hub.log.length, 0);
    // not cached + offline: a clear error
    await assert.rejects(
      () => off.readFile('preprocessor_config.json'),
      (e: unknown) => e instanceof NetworkError && /HF_HUB_OFFLINE=1/.test(e.message),
    );
    await assert.rejects(
      () => source('tiny/llava', {}, { HF_HUB_OFFLINE: '1' }).tensorIndex(),
      (e: unknown) => e instanceof NetworkError && /tiny\/llava@main is not in the cache/.test(e.message),
    );

    // the hub goes away: the revision comes from refs/main, with a notice
    await hub.stop();
    try {
      const notices: ProgressEvent[] = [];
      const down = source('tiny/llava-next', { onProgress: (e) => notices.push(e) });
      sameTensors(await down.readTensors(names), tensors);
      assert.ok(notices.some((e) => e.status === 'notice' && /unreachable/.test(e.message)));
      // and a model that is not cached fails with a NetworkError naming the attempts
      await assert.rejects(
        () => source('tiny/llava', { retries: 2 }).tensorIndex(),
        (e: unknown) => e instanceof NetworkError && /after 3 attempts/.test(e.message),
      );
    } finally {
      await hub.start();
    }
  });

  test('corrupt cache entries are detected and fetched again', async () => {
    const { names, tensors } = await allLocal(`${FIX}/tiny-llava-next`);
    await source('tiny/llava-next').readTensors(names);
    const tdir = join(home, 'imgtokens', 'models--tiny--llava-next', COMMIT_B);
    const ranges = rangeFiles(tdir).sort();
    assert.equal(ranges.length, 2); // one coalesced range per shard

    const check = async (what: string): Promise<void> => {
      hub.resetLog();
      sameTensors(await source('tiny/llava-next').readTensors(names), tensors);
      assert.ok(cdnBytes() > 0, `${what}: re-fetched`);
    };
    // 1. a flipped byte in a range (size still right): the sha256 in the sidecar catches it
    const buf = readFileSync(ranges[0]);
    buf[1234] ^= 0xff;
    writeFileSync(ranges[0], buf);
    await check('flipped byte');
    // 2. a truncated range
    writeFileSync(ranges[1], readFileSync(ranges[1]).subarray(0, 1000));
    await check('truncated');
    // 3. a complete-looking .part full of garbage, with the real range gone
    const base = ranges[0].replace(/\.bin$/, '');
    const size = readFileSync(ranges[0]).byteLength;
    rmSync(`${base}.bin`);
    rmSync(`${base}.json`);
    writeFileSync(`${base}.part`, Buffer.alloc(size, 7));
    await check('full-length .part');
    assert.equal(readFileSync(`${base}.bin`).byteLength, size);
    // 4. a .bin without its sidecar (a download killed before the sidecar was written)
    rmSync(`${base}.json`);
    writeFileSync(`${base}.bin`, Buffer.alloc(size, 9));
    await check('.bin without sidecar');
    // 5. a corrupt header
    const header = join(tdir, 'model-00002-of-00002.safetensors', 'header.bin');
    const h = readFileSync(header);
    h[20] ^= 0x55;
    writeFileSync(header, h);
    hub.resetLog();
    sameTensors(await source('tiny/llava-next').readTensors(names), tensors);
    assert.ok(hub.log.some((r) => r.range === 'bytes=0-7'));
  });

  test('tensorLocations: verified cached ranges, read in place (the same bytes as local), corrupt ones re-fetched', async () => {
    const { names, tensors } = await allLocal(`${FIX}/tiny-llava-next`);
    const inPlace = async (): Promise<Map<string, RawTensor>> => {
      const locs = await source('tiny/llava-next').tensorLocations(names);
      const tdir = join(home, 'imgtokens', 'models--tiny--llava-next', COMMIT_B);
      const out = new Map<string, RawTensor>();
      for (const [name, at] of locs) {
        assert.equal(at.dir, tdir);
        assert.match(at.location, /^model-0000[12]-of-00002\.safetensors\/\d+-\d+\.bin$/); // relative, no ..
        const t = tensors.get(name)!;
        const file = readFileSync(join(at.dir, at.location));
        out.set(name, { info: t.info, bytes: file.subarray(at.offset, at.offset + t.bytes.byteLength) });
      }
      return out;
    };
    sameTensors(await inPlace(), tensors);
    assert.ok(cdnBytes() > 0);
    // a second source sends no range; a flipped byte (size still right) is caught by the hash and re-fetched
    hub.resetLog();
    sameTensors(await inPlace(), tensors);
    assert.equal(cdnBytes(), 0);
    const range = rangeFiles(join(home, 'imgtokens', 'models--tiny--llava-next', COMMIT_B)).sort()[0]!;
    const buf = readFileSync(range);
    buf[1234] ^= 0xff;
    writeFileSync(range, buf);
    sameTensors(await inPlace(), tensors);
    assert.ok(cdnBytes() > 0, 're-fetched');
  });

  test('gated repo: 401 without a token, 403 with a wrong one, works with HF_TOKEN or the token file', async () => {
    const check = (status: string) => (e: unknown) =>
      e instanceof AuthError &&
      e.message.includes('gated/llava') &&
      e.message.includes(status) &&
      /accept its licence on http:\/\/127\.0\.0\.1:\d+\/gated\/llava/.test(e.hint ?? '') &&
      /HF_TOKEN/.test(e.hint ?? '');
    await assert.rejects(() => source('gated/llava').tensorIndex(), check('HTTP 401'));
    await assert.rejects(
      () => source('gated/llava', {}, { HF_TOKEN: 'hf_wrong' }).tensorIndex(),
      check('HTTP 403'),
    );
    const name = 'language_model.model.norm.weight';
    const viaEnv = await source('gated/llava', {}, { HF_TOKEN: 'hf_secret' }).readTensors([name]);
    assert.equal(viaEnv.get(name)!.bytes.byteLength, 48 * 4);
    home = join(root, `home${n++}`);
    rmSync(home, { recursive: true, force: true });
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'token'), 'hf_secret\n');
    hub.resetLog();
    await source('gated/llava').readTensors([name]);
    assert.ok(
      hub.log.filter((r) => !r.path.startsWith('/cdn/')).every((r) => r.authorization === 'Bearer hf_secret'),
    );
    assert.ok(hub.log.filter((r) => r.path.startsWith('/cdn/')).every((r) => r.authorization === undefined));
  });

  test('404s say whether the repo, the revision or the file is missing', async () => {
    await assert.rejects(
      () => source('nobody/nothing').tensorIndex(),
      (e: unknown) => e instanceof NotFoundError && /repository nobody\/nothing not found/.test(e.message),
    );
    await assert.rejects(
      () => source('tiny/llava@v9').readFile('config.json'),
      (e: unknown) => e instanceof NotFoundError && /revision v9 not found in tiny\/llava/.test(e.message),
    );
    const repo = repoFromDir(`${FIX}/tiny-llava-next`, 'c'.repeat(40));
    repo.files.delete('model-00002-of-00002.safetensors');
    hub.repos.set('broken/next', repo);
    await assert.rejects(
      () => source('broken/next').tensorIndex(),
      (e: unknown) =>
        e instanceof NotFoundError &&
        /file model-00002-of-00002\.safetensors not found in broken\/next@c{40}/.test(e.message),
    );
    const names = ['image_newline'];
    await assert.rejects(
      () => source('tiny/llava').readTensors(names),
      (e: unknown) => e instanceof Error && /no tensor named image_newline/.test(e.message),
    );
  });

  test('transient 500s and disconnects are retried with backoff; then a NetworkError', async () => {
    hub.faults = [{ status: 500, times: 2 }];
    const name = 'language_model.model.norm.weight';
    await source('tiny/llava').readTensors([name]);
    assert.deepEqual(
      hub.log.slice(0, 3).map((r) => r.status),
      [500, 500, 200],
    );
    home = join(root, `home${n++}`);
    hub.faults = [{ match: (p) => p.startsWith('/cdn/'), disconnectAfter: 3, times: 2 }];
    const ok = await source('tiny/llava').readTensors([name]);
    assert.equal(ok.get(name)!.bytes.byteLength, 192);

    home = join(root, `home${n++}`);
    hub.faults = [{ status: 503, times: 100 }];
    await assert.rejects(
      () => source('tiny/llava', { retries: 3 }).tensorIndex(),
      (e: unknown) =>
        e instanceof NetworkError &&
        /config\.json of tiny\/llava@main from 127\.0\.0\.1:\d+ after 4 attempts: .*HTTP 503/.test(e.message),
    );
    hub.faults = [];
  });

  test('a checkpoint whose header is malformed on the hub fails like a local one', async () => {
    const bad = repoFromDir(`${FIX}/tiny-llava`, 'd'.repeat(40));
    const f = bad.files.get('model.safetensors')!;
    const bytes = Buffer.from(f.read(0, f.size));
    bytes.write('"F12"', bytes.indexOf('"F32"'), 'latin1'); // first tensor's dtype
    bad.files.set('model.safetensors', bytesFile(bytes, true));
    hub.repos.set('bad/dtype', bad);
    await assert.rejects(
      () => source('bad/dtype').tensorIndex(),
      (e: unknown) =>
        e instanceof CheckpointError &&
        /bad\/dtype@main\/model\.safetensors: tensor language_model\.lm_head\.weight has unknown dtype "F12"/.test(
          e.message,
        ),
    );
  });
});
