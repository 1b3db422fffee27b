/**
 * The data that flows between layers: decoded images, the token layout, image features and lens results.
 * Everything here is plain data (JSON-serialisable apart from typed arrays).
 */

/** A decoded image: 8-bit RGB, row-major, HWC. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array; // [height, width, 3]
}

/** A rectangle on the ORIGINAL image, in pixels (may be fractional; x,y = top-left). */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * patch: a vision-tower output row; cls: the class token; newline: a learned row-end vector (LLaVA-NeXT's
 * image_newline). Text tokens a family places between rows or tiles (`<row_1_col_2>`, `<global-img>`, `<img>`,
 * boi/eoi) are not image tokens: they are TokenLayout.specials.
 */
export type TokenKind = 'patch' | 'cls' | 'newline';
/**
 * base: the whole image (square-resized, center-cropped or smart-resized); grid: the high-resolution anyres crops as
 * one un-padded map; tiles: high-resolution tiles kept apart (each its own grid); thumbnail: a downscaled whole-image
 * tile shown beside the tiles.
 */
export type ViewName = 'base' | 'grid' | 'tiles' | 'thumbnail';
export const VIEW_NAMES: readonly ViewName[] = ['base', 'grid', 'tiles', 'thumbnail'];
/** What a user picks to draw or return: one view, or every view the result has. */
export type ViewChoice = ViewName | 'all';
export const VIEW_CHOICES: readonly ViewChoice[] = [...VIEW_NAMES, 'all'];

/** One image token, in the order the LLM receives it. */
export interface LayoutToken {
  index: number; // row of image_features
  kind: TokenKind;
  view: ViewName;
  /** Crop the token's vector comes from (0 = base), or -1 for newline tokens. */
  crop: number;
  /** Row/column in the view's token grid (for grid tokens: of the un-padded feature map); -1 for cls. */
  row: number;
  col: number;
  /** Row of the crop's feature matrix this token copies (-1 for newline tokens). */
  source: number;
  /** The part of the original image the token covers; null for cls and newline tokens. */
  box: Box | null;
}

export interface ViewInfo {
  name: ViewName;
  rows: number;
  cols: number;
  /** Index of the first token of this view in the LLM sequence, and how many tokens (newlines included). */
  start: number;
  count: number;
}

/**
 * A text token the processor places among the image tokens (`<row_1_col_2>`, `<global-img>`, `<img>` / `</img>`,
 * Gemma's boi / eoi, a newline) that is not a row of the image features (image_features stays [n_image_tokens,
 * hidden], what is scattered into inputs_embeds); the LLM embeds it as text.
 */
export interface LayoutSpecial {
  text: string;
  /** Index of the image token it precedes (= tokens.length when it follows the last). */
  before: number;
  /** Position in the expanded image run (image tokens and specials together, from 0). */
  position: number;
}

export interface TokenLayout {
  imageWidth: number;
  imageHeight: number;
  views: ViewInfo[];
  tokens: LayoutToken[];
  /** Special text tokens around / between the image tokens, in prompt order; absent when the family has none. */
  specials?: LayoutSpecial[];
}

/** The result of running the vision tower and projector on one image. */
export interface ImageFeatures {
  image: { width: number; height: number };
  /** Model input, [crops, 3, H, W] (for llava crops = 1). */
  pixelValues: Float32Array;
  pixelShape: number[];
  /**
   * pixel_values' shape as transformers' processor returns it, when the family states it (InternVL: the 4-D tile
   * batch); absent: `--dump-tensors` derives it from pixelShape (anyres: [1, crops, 3, H, W]).
   */
  processorShape?: number[];
  /** Projector output per crop before packing, [crops, tokensPerCrop, hidden]. */
  cropFeatures: Float32Array;
  cropShape: number[];
  /** What the LLM receives, [tokens, hidden]. */
  features: Float32Array;
  hidden: number;
  layout: TokenLayout;
  /** The decoded image the boxes refer to (what the renderers draw on). */
  rgb: RgbImage;
  /**
   * Extra vision outputs the language model adds inside the decoder (Qwen3-VL DeepStack), packed like `features`
   * ([tokens, hidden] each), with the decoder layer whose input they are added to; absent for other families.
   */
  injections?: Array<{ beforeLayer: number; features: Float32Array }>;
}

/** The lens methods are the rows of one table (src/lens-methods.ts). */
import type { LensMethod } from './lens-methods.js';
export { LENS_METHODS, type LensMethod } from './lens-methods.js';

/** Top-k vocabulary entries for each token: ids and scores, [tokens, k] row-major. */
export interface TopK {
  k: number;
  tokens: number;
  ids: Int32Array;
  scores: Float32Array;
}

/** Vocabulary filters: `special` = added/special tokens, `bytes` = byte-fallback pieces like <0xE5>. */
export type ExcludeKind = 'special' | 'bytes';

/** One vocabulary entry in a result. */
export interface WordScore {
  id: number;
  text: string; // readable form (see src/vocab)
  score: number;
  gloss?: string; // e.g. "sky" for 天
}

/** The versioned result of one analysis; `tokens[i]` is row i of image_features. */
export interface ResultJson {
  /** /2 adds `deep`; readers accept both. */
  schema: 'imgtokens.result/1' | 'imgtokens.result/2';
  model: {
    id: string;
    modelType: string;
    revision?: string;
    vocabSize: number;
    hidden: number;
    /** The image-processor backend that made the pixels ('pil' | 'torchvision'), for families with both. */
    imageBackend?: 'pil' | 'torchvision';
  };
  image: { width: number; height: number; name?: string };
  method: LensMethod;
  k: number;
  exclude: ExcludeKind[];
  views: ViewInfo[];
  tokens: Array<{
    index: number;
    kind: TokenKind;
    view: ViewName;
    row: number;
    col: number;
    box: Box | null;
    top: WordScore[];
  }>;
  /** The text tokens among the image tokens, in prompt order (TokenLayout.specials); absent when there are none. */
  specials?: LayoutSpecial[];
  /** Present when the deep lens ran (schema imgtokens.result/2). */
  deep?: DeepJson;
}

/**
 * The deep lens (issue 12): what every chosen layer of the language model makes of each image token, run on the
 * model's own one-image prompt. Layer indices follow HF's `hidden_states`: 0 = the input embeddings, N = the output
 * of decoder layer N (the last one, `hidden_states[numLayers]`, is already passed through the final norm).
 * `top[t]` belongs to `ResultJson.tokens[t]` (row t of image_features, one LLM position each).
 */
export interface DeepLayerJson {
  /** hidden_states index, 0..numLayers. */
  layer: number;
  /** compat 'llava-interp' only: that tool's name for this entry ("Layer {layer + 1}"). */
  label?: string;
  /** Logit lens (final norm once, then lm_head), top-k per image token. */
  logit: WordScore[][];
  /** Embedding lens (cosine to embed_tokens), top-k per image token. */
  embed: WordScore[][];
}

export interface DeepJson {
  /** Whose behaviour the run mirrors where transformers 4.45.1 and 5.x differ. */
  reference: 'v4' | 'v5';
  /** 'llava-interp': clemneo/llava-interp's double norm at the last layer and its layer numbering. */
  compat?: 'llava-interp';
  /** The prompt as the model saw it: the rendered text, its ids, and where the image tokens sit in it. */
  prompt: { text: string; ids: number[]; imagePositions: number[] };
  /** Decoder layers in the model. */
  numLayers: number;
  k: number;
  /** The chosen layers, ascending. */
  layers: DeepLayerJson[];
  /** The model's own next-token top-k at the end of the prompt (softmax probabilities as scores). */
  next: WordScore[];
}

/** What the library accepts as an image: a file path, encoded bytes (JPEG/PNG/WebP/GIF), or decoded RGB. */
export type ImageInput = string | Uint8Array | RgbImage;

export interface LensOptions {
  method: LensMethod;
  k: number;
  exclude?: ExcludeKind[];
}
