/**
 * How many bytes HubSource transfers for LLaVA-NeXT-7B (llava-hf/llava-v1.6-vicuna-7b-hf) versus the whole
 * checkpoint. Serves a synthetic checkpoint from the local fake hub: the tensor names and shapes of the real
 * model (CLIP ViT-L/14-336 tower, 2-layer MLP projector, image_newline, Vicuna-7B with a 32064-token vocab, F16),
 * in 4 shards split greedily in state_dict order (max shard 4 GB; the real index may put the boundaries
 * elsewhere, which changes only how many ranges there are, not the bytes). Headers are real safetensors JSON;
 * data bytes are generated on the fly, never written to disk. Then downloads the set a LLaVA-NeXT run needs
 * (vision layers 0..22 for vision_feature_layer -2, embeddings, pre_layrnorm, projector, image_newline,
 * embed_tokens, lm_head, final norm) into a temp cache and reports the bytes the server sent.
 *
 * Usage: node --import tsx bench/hub-bytes.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HubSource } from '../src/source/hub.js';
import { FakeHub, bytesFile, type VirtualFile } from '../test/helpers/hub-server.js';
import { buildSafetensors } from '../test/helpers/safetensors-writer.js';
import { createHash } from 'node:crypto';

const REPO = 'llava-hf/llava-v1.6-vicuna-7b-hf';
const COMMIT = '0'.repeat(39) + '7';

type T = [name: string, shape: number[]];

/** The checkpoint's tensors in state_dict order (transformers <= 4.51 names). */
function tensorList(): T[] {
  const v = 1024;
  const vi = 4096;
  const h = 4096;
  const hi = 11008;
  const vocab = 32064;
  const out: T[] = [['image_newline', [h]]];
  const vt = 'vision_tower.vision_model.';
  out.push(
    [`${vt}embeddings.class_embedding`, [v]],
    [`${vt}embeddings.patch_embedding.weight`, [v, 3, 14, 14]],
    [`${vt}embeddings.position_embedding.weight`, [577, v]],
    [`${vt}pre_layrnorm.weight`, [v]],
    [`${vt}pre_layrnorm.bias`, [v]],
  );
  for (let i = 0; i < 24; i++) {
    const p = `${vt}encoder.layers.${i}.`;
    for (const m of ['k_proj', 'v_proj', 'q_proj', 'out_proj'])
      out.push([`${p}self_attn.${m}.weight`, [v, v]], [`${p}self_attn.${m}.bias`, [v]]);
    out.push(
      [`${p}layer_norm1.weight`, [v]],
      [`${p}layer_norm1.bias`, [v]],
      [`${p}mlp.fc1.weight`, [vi, v]],
      [`${p}mlp.fc1.bias`, [vi]],
      [`${p}mlp.fc2.weight`, [v, vi]],
      [`${p}mlp.fc2.bias`, [v]],
      [`${p}layer_norm2.weight`, [v]],
      [`${p}layer_norm2.bias`, [v]],
    );
  }
  out.push([`${vt}post_layernorm.weight`, [v]], [`${vt}post_layernorm.bias`, [v]]);
  out.push(
    ['multi_modal_projector.linear_1.weight', [h, v]],
    ['multi_modal_projector.linear_1.bias', [h]],
    ['multi_modal_projector.linear_2.weight', [h, h]],
    ['multi_modal_projector.linear_2.bias', [h]],
  );
  out.push(['language_model.model.embed_tokens.weight', [vocab, h]]);
  for (let i = 0; i < 32; i++) {
    const p = `language_model.model.layers.${i}.`;
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) out.push([`${p}self_attn.${m}.weight`, [h, h]]);
    out.push(
      [`${p}mlp.gate_proj.weight`, [hi, h]],
      [`${p}mlp.up_proj.weight`, [hi, h]],
      [`${p}mlp.down_proj.weight`, [h, hi]],
      [`${p}input_layernorm.weight`, [h]],
      [`${p}post_attention_layernorm.weight`, [h]],
    );
  }
  out.push(['language_model.model.norm.weight', [h]], ['language_model.lm_head.weight', [vocab, h]]);
  return out;
}

/** What a LLaVA-NeXT run with vision_feature_layer -2 reads. */
function neededNames(all: T[]): string[] {
  return all
    .map(([n]) => n)
    .filter((n) => {
      const layer = /vision_model\.encoder\.layers\.(\d+)\./.exec(n);
      if (layer) return Number(layer[1]) <= 22;
      return (
        n.startsWith('vision_tower.vision_model.embeddings.') ||
        n.startsWith('vision_tower.vision_model.pre_layrnorm.') ||
        n.startsWith('multi_modal_projector.') ||
        n === 'image_newline' ||
        n === 'language_model.model.embed_tokens.weight' ||
        n === 'language_model.lm_head.weight' ||
        n === 'language_model.model.norm.weight'
      );
    });
}

const numel = (s: number[]): number => s.reduce((a, d) => a * d, 1);

/** Greedy split in order, as transformers' shard_checkpoint does. */
function shard(all: T[], maxBytes: number): T[][] {
  const shards: T[][] = [[]];
  let size = 0;
  for (const t of all) {
    const b = numel(t[1]) * 2;
    if (size + b > maxBytes && shards[shards.length - 1].length > 0) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(t);
    size += b;
  }
  return shards;
}

/** A safetensors file whose header is real and whose data is a repeating pseudo-random block. */
function syntheticShard(ts: T[]): { file: VirtualFile; names: string[] } {
  const sorted = [...ts].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  // build only the header: tensors with empty data, then patch offsets
  let off = 0;
  const entries: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> = {};
  for (const [name, shape] of sorted) {
    const n = numel(shape) * 2;
    entries[name] = { dtype: 'F16', shape, data_offsets: [off, off + n] };
    off += n;
  }
  const head = buildSafetensors([], {
    headerText: JSON.stringify({ __metadata__: { format: 'pt' }, ...entries }),
  });
  const dataStart = head.byteLength;
  const size = dataStart + off;
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24;
  const read = (b: number, e: number): Uint8Array => {
    const out = new Uint8Array(e - b);
    for (let p = b; p < e;) {
      if (p < dataStart) {
        const n = Math.min(e, dataStart) - p;
        out.set(head.subarray(p, p + n), p - b);
        p += n;
        continue;
      }
      const k = (p - dataStart) % block.length;
      const n = Math.min(e - p, block.length - k);
      out.set(block.subarray(k, k + n), p - b);
      p += n;
    }
    return out;
  };
  const etag = createHash('sha256').update(head).update(String(size)).digest('hex');
  return { file: { size, etag, lfs: true, read }, names: sorted.map(([n]) => n) };
}

const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;

async function main(): Promise<void> {
  const all = tensorList();
  const needed = neededNames(all);
  const shards = shard(all, 4e9);
  const files = new Map<string, VirtualFile>();
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((ts, i) => {
    const name = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const { file, names } = syntheticShard(ts);
    files.set(name, file);
    for (const n of names) weightMap[n] = name;
    total += file.size;
  });
  const text = (o: unknown): VirtualFile =>
    bytesFile(new TextEncoder().encode(JSON.stringify(o, null, 2)), false);
  const paramBytes = all.reduce((a, [, s]) => a + numel(s) * 2, 0);
  files.set(
    'model.safetensors.index.json',
    text({ metadata: { total_size: paramBytes }, weight_map: weightMap }),
  );
  files.set(
    'config.json',
    text({ model_type: 'llava_next', vision_feature_layer: -2, text_config: { vocab_size: 32064 } }),
  );

  const hub = await new FakeHub().start();
  hub.chunkBytes = 1 << 20;
  hub.repos.set(REPO, { files, refs: { main: COMMIT } });
  const home = mkdtempSync(join(tmpdir(), 'imgtokens-bench-'));
  try {
    const src = new HubSource(REPO, { env: { HF_HOME: home, HF_ENDPOINT: hub.endpoint } });
    const idx = await src.tensorIndex();
    const neededBytes = needed.reduce((a, n) => a + idx.get(n)!.end - idx.get(n)!.begin, 0);
    const headerBytes = hub.log.filter((r) => r.path.startsWith('/cdn/')).reduce((a, r) => a + r.bytes, 0);
    const smallBytes = hub.bytesSent - headerBytes;
    const plan = await src.plan(needed);
    const t0 = performance.now();
    const stats = await src.download(needed);
    const seconds = (performance.now() - t0) / 1000;
    const rangeBytes = hub.bytesSent - headerBytes - smallBytes;
    const rangeRequests = hub.log.filter((r) => r.path.startsWith('/cdn/')).length - 2 * shards.length;
    console.log(
      `checkpoint          ${all.length} tensors, ${shards.length} shards, ${mb(total)} (${mb(paramBytes)} of tensor data)`,
    );
    console.log(`needed              ${needed.length} tensors, ${mb(neededBytes)}`);
    console.log(
      `small files         ${mb(smallBytes)} (${smallBytes} bytes: index + config; the revision check is a HEAD)`,
    );
    console.log(`safetensors headers ${headerBytes} bytes (${shards.length} x (8 + N))`);
    console.log(
      `tensor ranges       ${mb(rangeBytes)} in ${rangeRequests} range requests (${plan.fetch.length} planned; gap <= 1 MiB merged; ${rangeBytes - neededBytes} gap bytes)`,
    );
    console.log(
      `total transferred   ${mb(hub.bytesSent)} = ${((100 * hub.bytesSent) / total).toFixed(2)}% of the checkpoint`,
    );
    console.log(
      `download            ${seconds.toFixed(1)} s over loopback (${mb(stats.bytesFetched / seconds)}/s incl. hashing and disk)`,
    );
    hub.resetLog();
    await new HubSource(REPO, { env: { HF_HOME: home, HF_ENDPOINT: hub.endpoint } }).download(needed);
    console.log(`second run          ${hub.bytesSent} bytes (${hub.log.length} request: the revision HEAD)`);
  } finally {
    await hub.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
