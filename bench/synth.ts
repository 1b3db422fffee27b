/**
 * Synthetic real-size checkpoints for the bench: for llava-hf/llava-1.5-7b-hf and llava-hf/llava-v1.6-vicuna-7b-hf,
 * every tensor imgtokens reads (CLIP ViT-L/14-336 embeddings, pre_layrnorm and encoder layers 0..22 for
 * vision_feature_layer -2, the 1024->4096->4096 projector, image_newline for v1.6, embed_tokens and lm_head
 * [32064, 4096], the final norm) with the real names, shapes and F16 storage, random values; the repos' real
 * config.json and preprocessor_config.json values (as published, transformers-4.36/4.39 era files); a synthetic
 * Llama-style tokenizer.json (32000 BPE entries with byte fallback, plus <image> 32000 and <pad> 32001, as the
 * real tokenizer; rows 32002..32063 are padding); and a 1600x1200 JPEG with structure. Tensors imgtokens never
 * reads (vision layer 23, post_layernorm, the 32 decoder layers) are not written: nothing would read them.
 *
 * Written once into $IMGTOKENS_BENCH_CACHE, else $XDG_CACHE_HOME/imgtokens-bench, else ~/.cache/imgtokens-bench
 * (about 1.2 GB per checkpoint); a `.complete` marker makes an interrupted run start over.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

export const BENCH_MODELS = {
  'llava-1.5-7b-hf': 'llava-hf/llava-1.5-7b-hf',
  'llava-v1.6-vicuna-7b-hf': 'llava-hf/llava-v1.6-vicuna-7b-hf',
} as const;
export type BenchModel = keyof typeof BENCH_MODELS;

/** Bumped whenever what synth writes changes, so stale caches are rebuilt. */
const VERSION = 1;

export function cacheDir(): string {
  const base =
    process.env.IMGTOKENS_BENCH_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'imgtokens-bench');
  return join(base, `v${VERSION}`);
}

export type T = [name: string, shape: number[]];

const V = 1024; // CLIP ViT-L hidden
const VI = 4096; // CLIP intermediate
const H = 4096; // Vicuna-7B hidden
const VOCAB = 32064;
const LAYERS_READ = 23; // layers 0..22 for vision_feature_layer -2 of 24

/** The tensors imgtokens reads, legacy (transformers <= 4.51) names as in the llava-hf repos. */
export function benchTensors(model: BenchModel): T[] {
  const vt = 'vision_tower.vision_model.';
  const out: T[] = model === 'llava-v1.6-vicuna-7b-hf' ? [['image_newline', [H]]] : [];
  out.push(
    [`${vt}embeddings.class_embedding`, [V]],
    [`${vt}embeddings.patch_embedding.weight`, [V, 3, 14, 14]],
    [`${vt}embeddings.position_embedding.weight`, [577, V]],
    [`${vt}pre_layrnorm.weight`, [V]],
    [`${vt}pre_layrnorm.bias`, [V]],
  );
  for (let i = 0; i < LAYERS_READ; i++) {
    const p = `${vt}encoder.layers.${i}.`;
    for (const m of ['k_proj', 'v_proj', 'q_proj', 'out_proj'])
      out.push([`${p}self_attn.${m}.weight`, [V, V]], [`${p}self_attn.${m}.bias`, [V]]);
    out.push(
      [`${p}layer_norm1.weight`, [V]],
      [`${p}layer_norm1.bias`, [V]],
      [`${p}mlp.fc1.weight`, [VI, V]],
      [`${p}mlp.fc1.bias`, [VI]],
      [`${p}mlp.fc2.weight`, [V, VI]],
      [`${p}mlp.fc2.bias`, [V]],
      [`${p}layer_norm2.weight`, [V]],
      [`${p}layer_norm2.bias`, [V]],
    );
  }
  out.push(
    ['multi_modal_projector.linear_1.weight', [H, V]],
    ['multi_modal_projector.linear_1.bias', [H]],
    ['multi_modal_projector.linear_2.weight', [H, H]],
    ['multi_modal_projector.linear_2.bias', [H]],
    ['language_model.model.embed_tokens.weight', [VOCAB, H]],
    ['language_model.model.norm.weight', [H]],
    ['language_model.lm_head.weight', [VOCAB, H]],
  );
  return out;
}

const numel = (s: number[]): number => s.reduce((a, d) => a * d, 1);

/** float -> IEEE half bits (round to nearest; enough for synthetic weights). */
function f16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values to zero: no denormals
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | Math.round(mant / 8192);
}

/** A block of F16 values: ~uniform(-a, a) for matrices, ~1 + small for norm scales, small for biases. */
function block(kind: 'weight' | 'scale' | 'bias', n: number, seed: number): Uint16Array {
  const out = new Uint16Array(n);
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32 - 0.5;
  };
  for (let i = 0; i < n; i++) {
    const r = next();
    out[i] = f16(kind === 'scale' ? 1 + 0.2 * r : kind === 'bias' ? 0.02 * r : 0.06 * r);
  }
  return out;
}

function kindOf(name: string): 'weight' | 'scale' | 'bias' {
  if (/(norm|layrnorm|layer_norm\d?)\.weight$/.test(name) || name.endsWith('norm.weight')) return 'scale';
  if (name.endsWith('.bias')) return 'bias';
  return 'weight';
}

export async function writeCheckpoint(path: string, tensors: T[]): Promise<void> {
  const sorted = [...tensors].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const entries: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, shape] of sorted) {
    const n = numel(shape) * 2;
    entries[name] = { dtype: 'F16', shape, data_offsets: [off, off + n] };
    off += n;
  }
  let header = JSON.stringify(entries);
  header += ' '.repeat((8 - (header.length % 8)) % 8); // data aligned to 8 bytes, as safetensors writes it
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const pools = {
    weight: block('weight', 1 << 22, 1),
    scale: block('scale', 1 << 16, 2),
    bias: block('bias', 1 << 16, 3),
  };
  const ws = createWriteStream(path);
  let failed: Error | null = null;
  ws.on('error', (e) => (failed = e));
  const write = async (b: Uint8Array): Promise<void> => {
    if (failed) throw failed;
    if (!ws.write(b)) await new Promise<void>((res) => ws.once('drain', () => res()));
  };
  await write(len);
  await write(Buffer.from(header, 'utf8'));
  let t = 0;
  for (const [name, shape] of sorted) {
    const pool = pools[kindOf(name)];
    let left = numel(shape);
    let at = (t++ * 7919) % pool.length; // each tensor starts elsewhere in the pool
    while (left > 0) {
      const n = Math.min(left, pool.length - at, 1 << 20);
      await write(new Uint8Array(pool.buffer, at * 2, n * 2).slice());
      left -= n;
      at = (at + n) % pool.length;
    }
  }
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
}

const VISION_CONFIG = {
  hidden_size: 1024,
  image_size: 336,
  intermediate_size: 4096,
  model_type: 'clip_vision_model',
  num_attention_heads: 16,
  num_hidden_layers: 24,
  patch_size: 14,
  projection_dim: 768,
  vocab_size: 32000,
};

const TEXT_CONFIG = {
  _name_or_path: 'lmsys/vicuna-7b-v1.5',
  architectures: ['LlamaForCausalLM'],
  max_position_embeddings: 4096,
  model_type: 'llama',
  rms_norm_eps: 1e-5,
  torch_dtype: 'float16',
  vocab_size: 32064,
};

const PINPOINTS = [
  [336, 672],
  [672, 336],
  [672, 672],
  [1008, 336],
  [336, 1008],
];

/** config.json as in the llava-hf repos. */
function configJson(model: BenchModel): object {
  const common = {
    ignore_index: -100,
    image_token_index: 32000,
    projector_hidden_act: 'gelu',
    tie_word_embeddings: false,
    torch_dtype: 'float16',
    vision_feature_layer: -2,
    vision_feature_select_strategy: 'default',
    vocab_size: 32064,
  };
  if (model === 'llava-1.5-7b-hf') {
    return {
      architectures: ['LlavaForConditionalGeneration'],
      ...common,
      model_type: 'llava',
      pad_token_id: 32001,
      text_config: TEXT_CONFIG,
      transformers_version: '4.36.0.dev0',
      vision_config: VISION_CONFIG,
    };
  }
  return {
    architectures: ['LlavaNextForConditionalGeneration'],
    ...common,
    image_grid_pinpoints: PINPOINTS,
    model_type: 'llava_next',
    text_config: { ...TEXT_CONFIG, pad_token_id: 0 },
    transformers_version: '4.39.0.dev0',
    use_image_newline_parameter: true,
    vision_config: VISION_CONFIG,
  };
}

/** preprocessor_config.json as in the llava-hf repos. */
function preprocessorJson(model: BenchModel): object {
  const clip = {
    crop_size: { height: 336, width: 336 },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_std: [0.26862954, 0.26130258, 0.27577711],
    resample: 3,
    rescale_factor: 0.00392156862745098,
    size: { shortest_edge: 336 },
  };
  if (model === 'llava-1.5-7b-hf')
    return { ...clip, image_processor_type: 'CLIPImageProcessor', processor_class: 'LlavaProcessor' };
  return {
    ...clip,
    aspect_ratio_setting: 'anyres',
    do_pad: true,
    image_grid_pinpoints: PINPOINTS,
    image_processor_type: 'LlavaNextImageProcessor',
    processor_class: 'LlavaNextProcessor',
  };
}

/** A Llama-style tokenizer.json with the real layout of ids (specials, 256 byte tokens, words, 2 added). */
function tokenizerFiles(): { tokenizer: object; config: object } {
  const tpl = JSON.parse(
    readFileSync(new URL('../test/fixtures/llava/tiny-llava/tokenizer.json', import.meta.url), 'utf8'),
  ) as { added_tokens: Array<Record<string, unknown>>; model: Record<string, unknown> };
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let s = 12345;
  for (let id = 259; id < 32000;) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const len = 2 + (s % 7);
    let w = id % 3 === 0 ? '' : '▁';
    for (let j = 0; j < len; j++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      w += letters[(s >>> 8) % 26];
    }
    if (vocab[w] === undefined) vocab[w] = id++;
  }
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const added = [
    special(0, '<unk>'),
    special(1, '<s>'),
    special(2, '</s>'),
    special(32000, '<image>'),
    special(32001, '<pad>'),
  ];
  const tokenizer = { ...tpl, added_tokens: added, model: { ...tpl.model, vocab, merges: [] } };
  const config = {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...rest }) => [String(id), rest])),
    bos_token: '<s>',
    eos_token: '</s>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    model_max_length: 4096,
    tokenizer_class: 'LlamaTokenizer',
  };
  return { tokenizer, config };
}

/** A 1600x1200 photo-like JPEG: sky gradient, sun, hills, a checkered building, texture noise. */
async function writePhoto(path: string): Promise<void> {
  const W = 1600;
  const Hh = 1200;
  const rgb = Buffer.alloc(W * Hh * 3);
  let s = 7;
  for (let y = 0; y < Hh; y++) {
    for (let x = 0; x < W; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const noise = ((s >>> 24) - 128) / 16;
      let r = 90 + (y / Hh) * 80;
      let g = 140 + (y / Hh) * 60;
      let b = 230 - (y / Hh) * 80;
      if ((x - 1200) ** 2 + (y - 250) ** 2 < 110 ** 2) [r, g, b] = [250, 220, 120];
      const hill = 760 + 90 * Math.sin(x / 170) + 40 * Math.sin(x / 47);
      if (y > hill) [r, g, b] = [60 + 30 * Math.sin(x / 13), 120 + (y - hill) / 8, 50];
      if (x > 250 && x < 650 && y > 420 && y < 1000) {
        const win = (Math.floor(x / 40) + Math.floor(y / 50)) % 2 === 0;
        [r, g, b] = win ? [200, 190, 170] : [80, 70, 90];
      }
      const o = (y * W + x) * 3;
      rgb[o] = Math.max(0, Math.min(255, r + noise));
      rgb[o + 1] = Math.max(0, Math.min(255, g + noise));
      rgb[o + 2] = Math.max(0, Math.min(255, b + noise));
    }
  }
  await sharp(rgb, { raw: { width: W, height: Hh, channels: 3 } })
    .jpeg({ quality: 90 })
    .toFile(path);
}

export interface BenchFiles {
  dir: string;
  models: Record<BenchModel, string>;
  photo: string;
}

/** Writes what is missing; returns the paths. `log` reports progress. */
export async function synthesise(log: (s: string) => void): Promise<BenchFiles> {
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const models = {} as Record<BenchModel, string>;
  for (const m of Object.keys(BENCH_MODELS) as BenchModel[]) {
    const d = join(dir, m);
    models[m] = d;
    if (existsSync(join(d, '.complete'))) continue;
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    const t0 = performance.now();
    log(`synthesising ${BENCH_MODELS[m]} (random F16 weights) into ${d} ...`);
    const tok = tokenizerFiles();
    writeFileSync(join(d, 'config.json'), JSON.stringify(configJson(m), null, 2) + '\n');
    writeFileSync(join(d, 'preprocessor_config.json'), JSON.stringify(preprocessorJson(m), null, 2) + '\n');
    writeFileSync(join(d, 'tokenizer.json'), JSON.stringify(tok.tokenizer));
    writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify(tok.config, null, 2) + '\n');
    await writeCheckpoint(join(d, 'model.safetensors'), benchTensors(m));
    writeFileSync(join(d, '.complete'), `${new Date().toISOString()}\n`);
    log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const photo = join(dir, 'photo-1600x1200.jpg');
  if (!existsSync(photo)) await writePhoto(photo);
  return { dir, models, photo };
}
