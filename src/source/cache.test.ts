/** openSource, prefetch, and `cache ls` / `cache rm` over a temp HF_HOME and the fake hub. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BadInputError } from '../errors.js';
import { FakeHub, repoFromDir } from '../../test/helpers/hub-server.js';
import { HubSource, LocalSource, listCache, openSource, prefetch, removeFromCache } from './index.js';

const FIX = 'test/fixtures/llava';
const hub = new FakeHub();
const home = mkdtempSync(join(tmpdir(), 'imgtokens-cache-'));
const env = (): Record<string, string> => ({ HF_HOME: home, HF_ENDPOINT: hub.endpoint });
before(async () => {
  await hub.start();
  hub.repos.set('tiny/llava-next', repoFromDir(`${FIX}/tiny-llava-next`, 'b'.repeat(40)));
  hub.repos.set('tiny/llava', repoFromDir(`${FIX}/tiny-llava`, 'a'.repeat(40)));
});
after(async () => {
  await hub.stop();
  rmSync(home, { recursive: true, force: true });
});

test('openSource: directory -> LocalSource, hub id -> HubSource, else BadInputError', async () => {
  assert.ok((await openSource(`${FIX}/tiny-llava`)) instanceof LocalSource);
  const h = await openSource('llava-hf/llava-v1.6-vicuna-7b-hf@main', { env: env() });
  assert.ok(h instanceof HubSource && h.revision === 'main' && h.repo === 'llava-hf/llava-v1.6-vicuna-7b-hf');
  for (const bad of ['./no/such/dir', '/no/such/dir', 'not a model', 'a/b/c', `${FIX}/README.md`]) {
    await assert.rejects(() => openSource(bad), BadInputError, bad);
  }
  await assert.rejects(() => openSource('./missing'), /no such directory: \.\/missing/);
});

test('prefetch caches what a run needs; then it works offline; cache ls / rm', async () => {
  const names = ['image_newline', 'language_model.model.embed_tokens.weight'];
  const src = new HubSource('tiny/llava-next', { env: env(), backoffMs: 1 });
  const r = await prefetch(src, names);
  assert.deepEqual(r.files.sort(), [
    'config.json',
    'generation_config.json',
    'model.safetensors.index.json',
    'preprocessor_config.json',
    'special_tokens_map.json',
    'tokenizer.json',
    'tokenizer_config.json',
  ]);
  assert.equal(r.tensorBytes, 96 + 49152);
  assert.equal(r.bytesFetched, 96 + 49152); // adjacent tensors: one range, no gap
  assert.equal((await prefetch(src, names)).bytesFetched, 0);

  const off = new HubSource('tiny/llava-next', { env: { ...env(), HF_HUB_OFFLINE: '1' } });
  assert.ok(await off.readFile('tokenizer.json'));
  assert.equal((await off.readTensors(names)).size, 2);

  await new HubSource('tiny/llava', { env: env() }).readTensors(['language_model.model.norm.weight']);
  const ls = await listCache({ env: env() });
  assert.deepEqual(
    ls.map((m) => m.repo),
    ['tiny/llava', 'tiny/llava-next'],
  );
  const next = ls[1];
  assert.ok(next.hubBytes > 18490 && next.tensorBytes > 49248, JSON.stringify(next));
  assert.deepEqual(next.commits, ['b'.repeat(40)]);
  assert.ok(ls[0].hubBytes === 40 && ls[0].tensorBytes > 192, JSON.stringify(ls[0])); // refs/main + an empty .no_exist marker

  const rm = await removeFromCache('tiny/llava-next', { env: env() });
  assert.equal(rm.tensorBytes, next.tensorBytes);
  assert.equal(rm.keptHubBytes, next.hubBytes);
  const rmAll = await removeFromCache('tiny/llava', { env: env(), hub: true });
  assert.equal(rmAll.keptHubBytes, 0);
  assert.deepEqual(
    (await listCache({ env: env() })).map((m) => [m.repo, m.tensorBytes]),
    [['tiny/llava-next', 0]],
  );
  await assert.rejects(() => removeFromCache('../etc', { env: env() }), BadInputError);
});

test('prefetch on a local source only validates', async () => {
  const r = await prefetch(new LocalSource(`${FIX}/tiny-llava`), ['language_model.model.norm.weight']);
  assert.equal(r.bytesFetched, 0);
  assert.equal(r.tensorBytes, 192);
});
