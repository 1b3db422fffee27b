/**
 * A model from the (fake, loopback) hub gives the same analysis as the same model from a local directory,
 * transfers only the tensors analysis needs plus headers and small files, and then works offline from the cache.
 * Its vision and lens sessions read their weights in place from the tensor cache, as a local model's do.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadModel, planModel } from '../src/model.js';
import { HubSource, LocalSource } from '../src/source/index.js';
import type { ResultJson } from '../src/types.js';
import { FakeHub, repoFromDir } from './helpers/hub-server.js';

const FIX = 'test/fixtures/llava';
const IMAGE = `${FIX}/images/shapes_120x80.png`;
const hub = new FakeHub();
const home = mkdtempSync(join(tmpdir(), 'imgtokens-hub-e2e-'));
before(async () => {
  await hub.start();
  hub.repos.set('tiny/llava-next', repoFromDir(`${FIX}/tiny-llava-next`, 'c'.repeat(40)));
});
after(async () => {
  await hub.stop();
  rmSync(home, { recursive: true, force: true });
});

/** The result minus where the model came from. */
function comparable(r: ResultJson): unknown {
  return { ...r, model: { ...r.model, id: undefined, revision: undefined } };
}

async function analyze(
  model: string,
  env: Record<string, string>,
  method: 'cosine' | 'logit' = 'cosine',
): Promise<ResultJson> {
  const m = await loadModel(model, { hub: { env, backoffMs: 1, gapBytes: 0 } });
  try {
    return await m.analyze(IMAGE, { method, k: 5 });
  } finally {
    await m.close();
  }
}

test('hub model = local model; only the needed bytes cross the wire; offline afterwards', async () => {
  const local = await analyze(`${FIX}/tiny-llava-next`, {});
  const env = { HF_HOME: home, HF_ENDPOINT: hub.endpoint };
  const remote = await analyze('tiny/llava-next', env);
  assert.deepEqual(comparable(remote), comparable(local));
  assert.equal(remote.model.revision, 'main');

  // Bytes: the planned tensors (every byte of them) plus the shards' headers plus the small files.
  const src = new LocalSource(`${FIX}/tiny-llava-next`);
  const plan = await planModel(src);
  const index = await src.tensorIndex();
  const tensorBytes = plan.tensorNames.reduce((a, n) => a + index.get(n)!.end - index.get(n)!.begin, 0);
  const safetensorsBytes = hub.log.filter((r) => r.path.startsWith('/cdn/')).reduce((a, r) => a + r.bytes, 0);
  const allTensors = [...index.values()].reduce((a, t) => a + t.end - t.begin, 0);
  assert.ok(tensorBytes < allTensors, 'the plan leaves the decoder layers out');
  // Headers: 8-byte length + JSON per shard (the first tensor's offset, as the data is contiguous). With
  // gapBytes 0 no range is widened over unneeded tensors, so the count is exact.
  const headerBytes = [...new Set([...index.values()].map((t) => t.file))].reduce(
    (a, f) => a + Math.min(...[...index.values()].filter((t) => t.file === f).map((t) => t.begin)),
    0,
  );
  assert.equal(safetensorsBytes, tensorBytes + headerBytes);

  // Offline: the hub is gone, the cache answers.
  hub.resetLog();
  const offline = await analyze('tiny/llava-next', { ...env, HF_HUB_OFFLINE: '1' });
  assert.deepEqual(comparable(offline), comparable(local));
  assert.equal(hub.log.length, 0, 'offline mode sent no request');
});

test("a hub model's vision and lens sessions read their weights in place; results equal the local model's", async () => {
  // Spies on the two ways a HubSource hands out tensors: bytes into JS, or locations for onnxruntime.
  const read: string[] = [];
  const located: string[] = [];
  const { readTensors, tensorLocations } = HubSource.prototype;
  HubSource.prototype.readTensors = function (this: HubSource, names, onProgress) {
    read.push(...names);
    return readTensors.call(this, names, onProgress);
  };
  HubSource.prototype.tensorLocations = function (this: HubSource, names, onProgress) {
    located.push(...names);
    return tensorLocations.call(this, names, onProgress);
  };
  const fresh = mkdtempSync(join(tmpdir(), 'imgtokens-hub-e2e-inplace-'));
  try {
    const env = { HF_HOME: fresh, HF_ENDPOINT: hub.endpoint };
    for (const method of ['cosine', 'logit'] as const) {
      const local = await analyze(`${FIX}/tiny-llava-next`, {}, method);
      assert.deepEqual(comparable(await analyze('tiny/llava-next', env, method)), comparable(local), method);
    }
  } finally {
    HubSource.prototype.readTensors = readTensors;
    HubSource.prototype.tensorLocations = tensorLocations;
    rmSync(fresh, { recursive: true, force: true });
  }
  const plan = await planModel(new LocalSource(`${FIX}/tiny-llava-next`));
  const t = plan.loaded.text;
  const inPlace = [...plan.loaded.visionTensorNames(), t.embed, ...(t.lmHead ? [t.lmHead] : [])];
  assert.ok(t.lmHead, 'the fixture has an untied lm_head (the logit lens session)');
  for (const n of inPlace) {
    assert.ok(located.includes(n), `${n} was located`);
    assert.ok(!read.includes(n), `${n} was not read into JS`);
  }
  // JS reads only the small tensors the packing and the lens's norm use.
  assert.deepEqual(new Set(read), new Set([...plan.loaded.extraTensorNames(), t.norm]));
});

test('the deep lens from the hub fetches exactly the decoder layers it runs, each once, and equals the local run', async () => {
  const env = { HF_HOME: mkdtempSync(join(tmpdir(), 'imgtokens-hub-deep-')), HF_ENDPOINT: hub.endpoint };
  const local = await loadModel(`${FIX}/tiny-llava-next`, { reference: 'v4' });
  const remote = await loadModel('tiny/llava-next', {
    reference: 'v4',
    hub: { env, backoffMs: 1, gapBytes: 0 },
  });
  try {
    const index = await new LocalSource(`${FIX}/tiny-llava-next`).tensorIndex();
    const layerBytes = (l: number): number =>
      [...index.entries()]
        .filter(([n]) => n.startsWith(`language_model.model.layers.${l}.`))
        .reduce((a, [, t]) => a + t.end - t.begin, 0);
    const cdnBytes = (from: number): number =>
      hub.log
        .slice(from)
        .filter((r) => r.path.startsWith('/cdn/'))
        .reduce((a, r) => a + r.bytes, 0);
    const fl = await local.encode(IMAGE);
    const fr = await remote.encode(IMAGE);
    for (const [layers, fetched] of [
      ['1', layerBytes(0)], // hidden_states[1] = decoder layer 0's output
      ['0-2', layerBytes(1)], // layer 0 comes from the tensor cache
      ['2', 0], // both cached now
    ] as const) {
      const before = hub.log.length;
      const r = await remote.deep!(fr, { layers, k: 5 });
      assert.equal(cdnBytes(before), fetched, `--layers ${layers}: bytes fetched`);
      assert.deepEqual(r.deep, (await local.deep!(fl, { layers, k: 5 })).deep, `--layers ${layers}`);
    }
    assert.ok(layerBytes(0) > 0 && layerBytes(1) > 0);
  } finally {
    await local.close();
    await remote.close();
    rmSync(env.HF_HOME, { recursive: true, force: true });
  }
});
