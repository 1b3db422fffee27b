/**
 * The families section of `npm run bench`: one synthetic checkpoint per newer family at a real model's shapes, a
 * 1000x750 photo, and per family: load, decode + preprocess, encode (vision tower + projector/merger, all crops),
 * the cosine lens at k=5 on every image token, their sum, and the vision graph's FLOPs by block (patch embed,
 * attention, MLP, merger/projector) with GFLOP/s and the fraction of the same run's onnxruntime MatMul peak.
 *
 * Checkpoints (bench/synth.ts's writer: random F16 values, real names and shapes). Only what analysis reads is
 * written: the vision tower, the projector/merger, embed_tokens, the final norm and lm_head where untied; no decoder
 * layers. The tokenizer files, chat template and special-token ids are the tiny fixtures' (test/fixtures/modern/
 * tiny-*): the ids index rows of the bigger embedding, so nothing reads past it, and no timed stage depends on the
 * vocabulary's strings. Where the numbers come from:
 *   - Qwen/Qwen2.5-VL-7B-Instruct: the vision tower as transformers prints it (github acproject/duorou,
 *     docs/qwen2.5vl_graph.md: Conv3d(3, 1280, (2, 14, 14)), 32 blocks, qkv 1280->3840, MLP 1280->3420 gated,
 *     merger 5120->5120->3584, embed_tokens 152064 x 3584) and the config.json values (window_size 112,
 *     fullatt_block_indexes [7, 15, 23, 31], spatial_merge_size 2, tie_word_embeddings false) as in transformers'
 *     Qwen2_5_VLVisionConfig defaults, which are the 7B's; preprocessor min_pixels 3136 / max_pixels 12845056.
 *   - HuggingFaceTB/SmolVLM-256M-Instruct: SigLIP base-patch16-512 (hidden 768, MLP 3072, 12 heads, 12 layers,
 *     patch 16, image 512), scale_factor 4, SmolLM2-135M text side (hidden 576, vocab 49280, tied); processor
 *     size.longest_edge 2048, max_image_size 512, image_seq_len 64, resample 1 (LANCZOS), mean/std 0.5. From the
 *     hub files as remembered; not re-read here (no network).
 *   - OpenGVLab/InternVL3-1B-hf: InternViT-300M (hidden 1024, MLP 4096, 16 heads, 24 layers, 448 px, patch 14,
 *     layer scale), pixel shuffle 0.5, projector LN(4096) -> 896 -> GELU -> 896, Qwen2.5-0.5B text side (hidden 896,
 *     vocab 151674); processor 448 x 448 tiles, min_patches 1, max_patches 12 (crop_to_patches saved false, forced
 *     true by InternVLProcessor), ImageNet mean/std, image_seq_length 256. From the hub files as remembered.
 *   - google/gemma-3-4b-it: SigLIP so400m at 896 px (hidden 1152, MLP 4304, 16 heads, 27 layers, patch 14), the
 *     4x4 average pool to mm_tokens_per_image 256, mm_input_projection [1152, 2560], text hidden 2560, vocab 262208,
 *     tied; processor 896 x 896, resample 2 (BILINEAR), mean/std 0.5. From the hub files as remembered.
 * Qwen3-VL and Gemma 4 are not here yet (their vision graphs need more synthetic tensors; see docs/bench.md).
 *
 * Timing on purpose cheap (2 shared cores): one warm-up on a small 400x100 image (it creates every session and runs
 * every graph once), then ONE timed run of each stage on the 1000x750 photo. `--families a,b` (keys or model_type)
 * picks families and skips the llava sections (`none`: the llava sections only; env BENCH_FAMILIES the same);
 * `--skip-large` (BENCH_SKIP_LARGE=1) drops the ones marked large (over ~4 TFLOP per image).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadModel } from '../src/model.js';
import type { ImageFeatures } from '../src/types.js';
import type { StageRow, Timing } from './rows.js';
import { cacheDir, writeCheckpoint, type T } from './synth.js';

const FIXTURES = new URL('../test/fixtures/modern/', import.meta.url);
/** Bumped whenever what this file writes changes. */
const VERSION = 1;

/** FLOPs (multiply-add = 2) of one image through the vision graph, by block. */
export interface VisionFlops {
  patchEmbed: number;
  attention: number;
  mlp: number;
  projector: number;
}

interface Shapes {
  /** pixel_values' shape as the family's processor made it. */
  pixelShape: number[];
  /** [crops, tokens per crop, text hidden] out of the projector. */
  cropShape: number[];
  /** The first crop's size in pixels after resizing (Qwen: the whole resized image). */
  crop: { width: number; height: number };
}

export interface FamilyBench {
  key: string;
  repo: string;
  modelType: string;
  /** The tiny fixture whose tokenizer files and token ids are reused. */
  tiny: string;
  /** Over ~4 TFLOP for the photo: skipped by --skip-large. */
  large: boolean;
  config(tiny: Record<string, unknown>): Record<string, unknown>;
  processor(tiny: Record<string, unknown>): Record<string, unknown>;
  tensors(): T[];
  textHidden: number;
  vocab: number;
  flops(s: Shapes): VisionFlops;
}

const sub = (o: Record<string, unknown>, k: string): Record<string, unknown> =>
  (o[k] ?? {}) as Record<string, unknown>;

/** A ViT layer with biased q/k/v/out projections and fc1/fc2 (SigLIP, Idefics3), names as in transformers. */
function siglipLayers(prefix: string, layers: number, d: number, mlp: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}encoder.layers.${i}.`;
    for (const n of ['layer_norm1', 'layer_norm2'])
      out.push([`${p}${n}.weight`, [d]], [`${p}${n}.bias`, [d]]);
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'out_proj'])
      out.push([`${p}self_attn.${m}.weight`, [d, d]], [`${p}self_attn.${m}.bias`, [d]]);
    out.push(
      [`${p}mlp.fc1.weight`, [mlp, d]],
      [`${p}mlp.fc1.bias`, [mlp]],
      [`${p}mlp.fc2.weight`, [d, mlp]],
      [`${p}mlp.fc2.bias`, [d]],
    );
  }
  return out;
}

/** A plain pre-norm ViT over `crops` crops of `n` tokens: q/k/v/o projections, q·kᵀ and p·v, a 2-matrix MLP. */
function vitFlops(crops: number, n: number, d: number, mlp: number, layers: number) {
  return {
    attention: crops * layers * (4 * 2 * n * d * d + 2 * 2 * n * n * d),
    mlp: crops * layers * 2 * 2 * n * d * mlp,
  };
}

// ---------------------------------------------------------------- Qwen2.5-VL-7B

const QV = { depth: 32, d: 1280, mlp: 3420, heads: 16, out: 3584, patch: 14, merge: 2, window: 112 };
const QV_FULL = [7, 15, 23, 31];
const QV_VOCAB = 152064;

const qwen25: FamilyBench = {
  key: 'qwen2.5-vl-7b',
  repo: 'Qwen/Qwen2.5-VL-7B-Instruct',
  modelType: 'qwen2_5_vl',
  tiny: 'tiny-qwen2_5-vl',
  large: true,
  textHidden: QV.out,
  vocab: QV_VOCAB,
  config: (t) => ({
    ...t,
    tie_word_embeddings: false,
    text_config: {
      ...sub(t, 'text_config'),
      hidden_size: 3584,
      intermediate_size: 18944,
      num_attention_heads: 28,
      num_key_value_heads: 4,
      num_hidden_layers: 28,
      layer_types: Array.from({ length: 28 }, () => 'full_attention'),
      max_window_layers: 28,
      rms_norm_eps: 1e-6,
      rope_parameters: { mrope_section: [16, 24, 24], rope_theta: 1000000.0, rope_type: 'default' },
      tie_word_embeddings: false,
      vocab_size: QV_VOCAB,
    },
    vision_config: {
      ...sub(t, 'vision_config'),
      depth: QV.depth,
      fullatt_block_indexes: QV_FULL,
      hidden_act: 'silu',
      hidden_size: QV.d,
      intermediate_size: QV.mlp,
      num_heads: QV.heads,
      out_hidden_size: QV.out,
      patch_size: QV.patch,
      spatial_merge_size: QV.merge,
      temporal_patch_size: 2,
      tokens_per_second: 2,
      window_size: QV.window,
    },
  }),
  processor: (t) => ({
    ...t,
    image_processor: {
      ...sub(t, 'image_processor'),
      merge_size: 2,
      patch_size: 14,
      size: { longest_edge: 12845056, shortest_edge: 3136 },
      temporal_patch_size: 2,
    },
  }),
  tensors: () => {
    const v = 'visual.';
    const out: T[] = [[`${v}patch_embed.proj.weight`, [QV.d, 3, 2, QV.patch, QV.patch]]];
    for (let i = 0; i < QV.depth; i++) {
      const p = `${v}blocks.${i}.`;
      out.push(
        [`${p}norm1.weight`, [QV.d]],
        [`${p}norm2.weight`, [QV.d]],
        [`${p}attn.qkv.weight`, [3 * QV.d, QV.d]],
        [`${p}attn.qkv.bias`, [3 * QV.d]],
        [`${p}attn.proj.weight`, [QV.d, QV.d]],
        [`${p}attn.proj.bias`, [QV.d]],
      );
      for (const m of ['gate_proj', 'up_proj'])
        out.push([`${p}mlp.${m}.weight`, [QV.mlp, QV.d]], [`${p}mlp.${m}.bias`, [QV.mlp]]);
      out.push([`${p}mlp.down_proj.weight`, [QV.d, QV.mlp]], [`${p}mlp.down_proj.bias`, [QV.d]]);
    }
    const m = 4 * QV.d;
    out.push(
      [`${v}merger.ln_q.weight`, [QV.d]],
      [`${v}merger.mlp.0.weight`, [m, m]],
      [`${v}merger.mlp.0.bias`, [m]],
      [`${v}merger.mlp.2.weight`, [QV.out, m]],
      [`${v}merger.mlp.2.bias`, [QV.out]],
      ['model.embed_tokens.weight', [QV_VOCAB, QV.out]],
      ['model.norm.weight', [QV.out]],
      ['lm_head.weight', [QV_VOCAB, QV.out]],
    );
    return out;
  },
  flops: ({ pixelShape, cropShape, crop }) => {
    // pixel_values [patches, 3 * 2 * 14 * 14]; merged tokens = patches / 4 (cropShape [1, tokens, 3584]).
    const n = pixelShape[0];
    const tokens = cropShape[0] * cropShape[1];
    // The patch grid h x w of the resized image; windows are window / patch = 8 patches a side (edge windows
    // smaller), so Σ over windows of len² = (Σ row-block²)(Σ col-block²).
    const [h, w] = [crop.height / QV.patch, crop.width / QV.patch];
    const win = QV.window / QV.patch;
    const sq = (len: number): number => {
      let s = 0;
      for (let a = 0; a < len; a += win) s += Math.min(win, len - a) ** 2;
      return s;
    };
    const windowPairs = sq(h) * sq(w);
    const full = QV_FULL.length;
    const d = QV.d;
    return {
      patchEmbed: 2 * n * d * 3 * 2 * QV.patch * QV.patch,
      attention:
        QV.depth * (2 * n * d * 3 * d + 2 * n * d * d) +
        full * 2 * 2 * n * n * d +
        (QV.depth - full) * 2 * 2 * windowPairs * d,
      mlp: QV.depth * 3 * 2 * n * d * QV.mlp,
      projector: 2 * tokens * (4 * d * 4 * d + 4 * d * QV.out),
    };
  },
};

// ---------------------------------------------------------------- SmolVLM-256M

const SV = { d: 768, mlp: 3072, heads: 12, layers: 12, patch: 16, image: 512, scale: 4 };
const SV_TEXT = 576;
const SV_VOCAB = 49280;

const smolvlm: FamilyBench = {
  key: 'smolvlm-256m',
  repo: 'HuggingFaceTB/SmolVLM-256M-Instruct',
  modelType: 'smolvlm',
  tiny: 'tiny-smolvlm',
  large: false,
  textHidden: SV_TEXT,
  vocab: SV_VOCAB,
  config: (t) => ({
    ...t,
    scale_factor: SV.scale,
    text_config: {
      ...sub(t, 'text_config'),
      head_dim: 64,
      hidden_size: SV_TEXT,
      intermediate_size: 1536,
      num_attention_heads: 9,
      num_key_value_heads: 3,
      num_hidden_layers: 30,
      vocab_size: SV_VOCAB,
    },
    vision_config: {
      ...sub(t, 'vision_config'),
      hidden_size: SV.d,
      image_size: SV.image,
      intermediate_size: SV.mlp,
      num_attention_heads: SV.heads,
      num_hidden_layers: SV.layers,
      patch_size: SV.patch,
    },
  }),
  processor: (t) => ({
    ...t,
    image_seq_len: 64,
    image_processor: {
      ...sub(t, 'image_processor'),
      max_image_size: { longest_edge: SV.image },
      size: { longest_edge: 2048 },
    },
  }),
  tensors: () => {
    const v = 'model.vision_model.';
    const g = SV.image / SV.patch;
    return [
      [`${v}embeddings.patch_embedding.weight`, [SV.d, 3, SV.patch, SV.patch]],
      [`${v}embeddings.patch_embedding.bias`, [SV.d]],
      [`${v}embeddings.position_embedding.weight`, [g * g, SV.d]],
      ...siglipLayers(v, SV.layers, SV.d, SV.mlp),
      [`${v}post_layernorm.weight`, [SV.d]],
      [`${v}post_layernorm.bias`, [SV.d]],
      ['model.connector.modality_projection.proj.weight', [SV_TEXT, SV.d * SV.scale ** 2]],
      ['model.text_model.embed_tokens.weight', [SV_VOCAB, SV_TEXT]],
      ['model.text_model.norm.weight', [SV_TEXT]],
    ];
  },
  flops: ({ cropShape }) => {
    const crops = cropShape[0];
    const n = (SV.image / SV.patch) ** 2; // 1024 patches per 512-px crop, no CLS
    return {
      patchEmbed: crops * 2 * n * SV.d * 3 * SV.patch ** 2,
      ...vitFlops(crops, n, SV.d, SV.mlp, SV.layers),
      // pixel shuffle (no FLOPs) to n/16 tokens of 16 d, one bias-free linear to the text width
      projector: crops * 2 * (n / SV.scale ** 2) * SV.d * SV.scale ** 2 * SV_TEXT,
    };
  },
};

// ---------------------------------------------------------------- InternVL3-1B

const IV = { d: 1024, mlp: 4096, heads: 16, layers: 24, patch: 14, image: 448 };
const IV_TEXT = 896;
const IV_VOCAB = 151674;

const internvl: FamilyBench = {
  key: 'internvl3-1b',
  repo: 'OpenGVLab/InternVL3-1B-hf',
  modelType: 'internvl',
  tiny: 'tiny-internvl',
  large: true,
  textHidden: IV_TEXT,
  vocab: IV_VOCAB,
  config: (t) => ({
    ...t,
    image_seq_length: 256,
    text_config: {
      ...sub(t, 'text_config'),
      hidden_size: IV_TEXT,
      intermediate_size: 4864,
      layer_types: Array.from({ length: 24 }, () => 'full_attention'),
      num_attention_heads: 14,
      num_key_value_heads: 2,
      num_hidden_layers: 24,
      vocab_size: IV_VOCAB,
    },
    vision_config: {
      ...sub(t, 'vision_config'),
      hidden_size: IV.d,
      image_size: [IV.image, IV.image],
      intermediate_size: IV.mlp,
      num_attention_heads: IV.heads,
      num_hidden_layers: IV.layers,
      patch_size: [IV.patch, IV.patch],
    },
  }),
  processor: (t) => ({
    ...t,
    image_seq_length: 256,
    image_processor: {
      ...sub(t, 'image_processor'),
      crop_to_patches: false,
      max_patches: 12,
      min_patches: 1,
      size: { height: IV.image, width: IV.image },
    },
  }),
  tensors: () => {
    const v = 'vision_tower.';
    const g = IV.image / IV.patch;
    const out: T[] = [
      [`${v}embeddings.patch_embeddings.projection.weight`, [IV.d, 3, IV.patch, IV.patch]],
      [`${v}embeddings.patch_embeddings.projection.bias`, [IV.d]],
      [`${v}embeddings.cls_token`, [1, 1, IV.d]],
      [`${v}embeddings.position_embeddings`, [1, g * g + 1, IV.d]],
    ];
    for (let i = 0; i < IV.layers; i++) {
      const p = `${v}encoder.layer.${i}.`;
      for (const n of ['layernorm_before', 'layernorm_after'])
        out.push([`${p}${n}.weight`, [IV.d]], [`${p}${n}.bias`, [IV.d]]);
      for (const m of ['q_proj', 'k_proj', 'v_proj', 'projection_layer'])
        out.push([`${p}attention.${m}.weight`, [IV.d, IV.d]], [`${p}attention.${m}.bias`, [IV.d]]);
      out.push(
        [`${p}lambda_1`, [IV.d]],
        [`${p}lambda_2`, [IV.d]],
        [`${p}mlp.fc1.weight`, [IV.mlp, IV.d]],
        [`${p}mlp.fc1.bias`, [IV.mlp]],
        [`${p}mlp.fc2.weight`, [IV.d, IV.mlp]],
        [`${p}mlp.fc2.bias`, [IV.d]],
      );
    }
    out.push(
      ['multi_modal_projector.layer_norm.weight', [4 * IV.d]],
      ['multi_modal_projector.layer_norm.bias', [4 * IV.d]],
      ['multi_modal_projector.linear_1.weight', [IV_TEXT, 4 * IV.d]],
      ['multi_modal_projector.linear_1.bias', [IV_TEXT]],
      ['multi_modal_projector.linear_2.weight', [IV_TEXT, IV_TEXT]],
      ['multi_modal_projector.linear_2.bias', [IV_TEXT]],
      ['language_model.model.embed_tokens.weight', [IV_VOCAB, IV_TEXT]],
      ['language_model.model.norm.weight', [IV_TEXT]],
    );
    return out;
  },
  flops: ({ cropShape }) => {
    const crops = cropShape[0];
    const p = (IV.image / IV.patch) ** 2; // 1024 patches
    const n = p + 1; // + CLS
    return {
      patchEmbed: crops * 2 * p * IV.d * 3 * IV.patch ** 2,
      ...vitFlops(crops, n, IV.d, IV.mlp, IV.layers),
      // pixel shuffle 0.5: 256 tokens of 4096, linear_1 4096 -> 896, linear_2 896 -> 896
      projector: crops * 2 * (p / 4) * (4 * IV.d * IV_TEXT + IV_TEXT * IV_TEXT),
    };
  },
};

// ---------------------------------------------------------------- Gemma 3 4B

const GV = { d: 1152, mlp: 4304, heads: 16, layers: 27, patch: 14, image: 896 };
const G_TEXT = 2560;
const G_VOCAB = 262208;

const gemma3: FamilyBench = {
  key: 'gemma-3-4b',
  repo: 'google/gemma-3-4b-it',
  modelType: 'gemma3',
  tiny: 'tiny-gemma3',
  large: true,
  textHidden: G_TEXT,
  vocab: G_VOCAB,
  config: (t) => ({
    ...t,
    mm_tokens_per_image: 256,
    text_config: {
      ...sub(t, 'text_config'),
      head_dim: 256,
      hidden_size: G_TEXT,
      // 5 sliding-window layers, then 1 global (sliding_window_pattern 6)
      layer_types: Array.from({ length: 34 }, (_, i) =>
        (i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention',
      ),
      sliding_window: 1024,
      intermediate_size: 10240,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      num_hidden_layers: 34,
      vocab_size: G_VOCAB,
    },
    vision_config: {
      ...sub(t, 'vision_config'),
      hidden_size: GV.d,
      image_size: GV.image,
      intermediate_size: GV.mlp,
      num_attention_heads: GV.heads,
      num_hidden_layers: GV.layers,
      patch_size: GV.patch,
    },
  }),
  processor: (t) => ({
    ...t,
    image_seq_length: 256,
    image_processor: { ...sub(t, 'image_processor'), size: { height: GV.image, width: GV.image } },
  }),
  tensors: () => {
    const v = 'vision_tower.';
    const g = GV.image / GV.patch;
    return [
      [`${v}embeddings.patch_embedding.weight`, [GV.d, 3, GV.patch, GV.patch]],
      [`${v}embeddings.patch_embedding.bias`, [GV.d]],
      [`${v}embeddings.position_embedding.weight`, [g * g, GV.d]],
      ...siglipLayers(v, GV.layers, GV.d, GV.mlp),
      [`${v}post_layernorm.weight`, [GV.d]],
      [`${v}post_layernorm.bias`, [GV.d]],
      ['multi_modal_projector.mm_soft_emb_norm.weight', [GV.d]],
      ['multi_modal_projector.mm_input_projection_weight', [GV.d, G_TEXT]],
      ['language_model.model.embed_tokens.weight', [G_VOCAB, G_TEXT]],
      ['language_model.model.norm.weight', [G_TEXT]],
    ];
  },
  flops: ({ cropShape }) => {
    const crops = cropShape[0];
    const n = (GV.image / GV.patch) ** 2; // 4096 patches
    return {
      patchEmbed: crops * 2 * n * GV.d * 3 * GV.patch ** 2,
      ...vitFlops(crops, n, GV.d, GV.mlp, GV.layers),
      // the 4x4 average pool is n adds (left out); the projection of the 256 pooled tokens
      projector: crops * 2 * cropShape[1] * GV.d * G_TEXT,
    };
  },
};

export const FAMILY_BENCHES: readonly FamilyBench[] = [qwen25, smolvlm, internvl, gemma3];

// ---------------------------------------------------------------- synthesis

function familiesDir(): string {
  return join(cacheDir(), `families-v${VERSION}`);
}

async function synthFamily(f: FamilyBench, log: (s: string) => void): Promise<string> {
  const d = join(familiesDir(), f.key);
  if (existsSync(join(d, '.complete'))) return d;
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  const t0 = performance.now();
  log(`synthesising ${f.repo} (random F16 weights, no decoder layers) into ${d} ...`);
  const tiny = new URL(`${f.tiny}/`, FIXTURES);
  const json = (n: string) => JSON.parse(readFileSync(new URL(n, tiny), 'utf8')) as Record<string, unknown>;
  writeFileSync(
    join(d, 'config.json'),
    JSON.stringify({ ...f.config(json('config.json')), dtype: 'float16' }, null, 2),
  );
  writeFileSync(
    join(d, 'processor_config.json'),
    JSON.stringify(f.processor(json('processor_config.json')), null, 2),
  );
  for (const n of [
    'tokenizer.json',
    'tokenizer_config.json',
    'chat_template.jinja',
    'generation_config.json',
  ])
    if (existsSync(new URL(n, tiny))) copyFileSync(new URL(n, tiny), join(d, n));
  await writeCheckpoint(join(d, 'model.safetensors'), f.tensors());
  writeFileSync(join(d, '.complete'), `${new Date().toISOString()}\n`);
  log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return d;
}

/** The 1000x750 photo (the llava bench's 1600x1200 one, resized) and a 400x100 warm-up image (few crops: 5 for SmolVLM and InternVL, 1 for Gemma 3). */
async function photos(source: string): Promise<{ photo: string; warm: string }> {
  const photo = join(familiesDir(), 'photo-1000x750.jpg');
  const warm = join(familiesDir(), 'warm-400x100.jpg');
  mkdirSync(familiesDir(), { recursive: true });
  if (!existsSync(photo)) await sharp(source).resize(1000, 750).jpeg({ quality: 90 }).toFile(photo);
  if (!existsSync(warm))
    await sharp(source).resize(400, 100, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(warm);
  return { photo, warm };
}

// ---------------------------------------------------------------- the section

export interface FamilyArgs {
  /** null: every family, after the llava sections; else only these, and no llava sections. */
  only: string[] | null;
  skipLarge: boolean;
  /** `--families none`: the llava sections only. */
  none: boolean;
}

/** `--families a,b` (a key such as smolvlm-256m, or a model_type such as smolvlm; `all`) and `--skip-large`. */
export function familyArgs(argv: readonly string[]): FamilyArgs {
  const i = argv.indexOf('--families');
  const list = i >= 0 ? argv[i + 1] : process.env.BENCH_FAMILIES;
  if (list === 'none') return { only: null, skipLarge: false, none: true };
  const only =
    list === undefined ? null : list === 'all' ? FAMILY_BENCHES.map((f) => f.key) : list.split(',');
  for (const k of only ?? []) {
    if (!FAMILY_BENCHES.some((f) => f.key === k || f.modelType === k))
      throw new Error(
        `--families: unknown ${JSON.stringify(k)}; use ${FAMILY_BENCHES.map((f) => f.key).join(', ')} or all`,
      );
  }
  return {
    only,
    skipLarge: argv.includes('--skip-large') || process.env.BENCH_SKIP_LARGE === '1',
    none: false,
  };
}

export interface FamilyHelpers {
  log: (s: string) => void;
  timeRuns: (n: number, fn: () => Promise<unknown> | unknown) => Promise<Timing>;
  table: (rows: StageRow[]) => string;
  row: (
    model: string,
    stage: string,
    timing: Timing | null,
    flops: number | null,
    peak: number,
    note?: string,
  ) => StageRow;
}

export interface FamilyReport {
  key: string;
  repo: string;
  crops: number;
  imageTokens: number;
  pixelShape: number[];
  loadMs: number;
  flops: VisionFlops;
}

/** Runs the section; appends its rows to `rows` (one timed run each after a warm-up on a small image). */
export async function benchFamilies(
  args: FamilyArgs,
  sourcePhoto: string,
  peak: number,
  rows: StageRow[],
  h: FamilyHelpers,
): Promise<FamilyReport[]> {
  if (args.none) return [];
  const picked = FAMILY_BENCHES.filter(
    (f) =>
      (args.only === null || args.only.includes(f.key) || args.only.includes(f.modelType)) &&
      !(args.skipLarge && f.large),
  );
  const { photo, warm } = await photos(sourcePhoto);
  const reports: FamilyReport[] = [];
  for (const f of picked) {
    const dir = await synthFamily(f, h.log);
    h.log(`\n== ${f.repo} (synthetic, ${dir})`);
    const t0 = performance.now();
    const m = await loadModel(dir, { sessionCache: false });
    const loadMs = performance.now() - t0;
    const quiet = { onProgress: () => {} };
    // Warm-up: every session created and run once, on a small image.
    await m.analyze(warm, { method: 'cosine', k: 5 });
    let prepared = await m.prepare(photo, quiet);
    const prep = await h.timeRuns(1, async () => (prepared = await m.prepare(photo, quiet)));
    let encoded: ImageFeatures | null = null;
    const encT = await h.timeRuns(1, async () => (encoded = await m.encodePrepared(prepared, quiet)));
    const feats = encoded as ImageFeatures | null;
    if (!feats) throw new Error('encodePrepared returned nothing');
    const lensT = await h.timeRuns(1, () => m.lens(feats, { method: 'cosine', k: 5 }));
    const pixelShape = [...prepared.pre.shape];
    const cropShape = feats.cropShape;
    const imageTokens = feats.features.length / f.textHidden;
    const crop = prepared.pre.geometry.crops[0]!;
    const fl = f.flops({ pixelShape, cropShape, crop: { width: crop.width, height: crop.height } });
    const visionFlops = fl.patchEmbed + fl.attention + fl.mlp + fl.projector;
    const lensTokens = feats.layout.tokens.length;
    const lensFlops = 2 * lensTokens * f.textHidden * f.vocab;
    const g = (x: number): string => (x / 1e9).toFixed(0);
    const name = f.repo;
    rows.push(
      h.row(
        name,
        'load (synthetic F16, session cache off)',
        { medianMs: loadMs, minMs: loadMs, maxMs: loadMs, runs: 1 },
        null,
        peak,
      ),
      h.row(
        name,
        'decode + preprocess',
        prep,
        null,
        peak,
        `1000x750 JPEG -> pixel_values [${pixelShape.join(', ')}]`,
      ),
      h.row(
        name,
        `encode: vision + ${f.modelType === 'qwen2_5_vl' ? 'merger' : 'projector'} (${cropShape[0]} crop${cropShape[0] > 1 ? 's' : ''})`,
        encT,
        visionFlops,
        peak,
        `GFLOP: patch ${g(fl.patchEmbed)}, attn ${g(fl.attention)}, MLP ${g(fl.mlp)}, proj ${g(fl.projector)}`,
      ),
      h.row(name, `lens cosine k=5 (${lensTokens} tokens x ${f.vocab})`, lensT, lensFlops, peak),
      h.row(
        name,
        `sum: preprocess + encode + lens (${imageTokens} image tokens)`,
        { medianMs: prep.medianMs + encT.medianMs + lensT.medianMs, minMs: NaN, maxMs: NaN, runs: 1 },
        visionFlops + lensFlops,
        peak,
      ),
    );
    await m.close();
    h.log(h.table(rows.slice(-5)));
    reports.push({
      key: f.key,
      repo: f.repo,
      crops: cropShape[0],
      imageTokens,
      pixelShape,
      loadMs,
      flops: fl,
    });
  }
  return reports;
}
