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

export type TokenKind = 'patch' | 'cls' | 'newline';
/** base = the whole-image (square-resized or center-cropped) view; grid = the high-resolution anyres crops. */
export type ViewName = 'base' | 'grid';

/**
 * The tile a token comes from, for tiling families (Idefics3 / SmolVLM): `tile` = its index in pixel_values, kind
 * 'tile' (grid_row / grid_col 0-based; the prompt marker is <row_{gridRow+1}_col_{gridCol+1}>) or 'global' /
 * 'thumbnail' (gridRow = gridCol = -1), and the token's row / col inside the tile's token grid.
 */
export interface TileRef {
  tile: number;
  kind: 'tile' | 'global' | 'thumbnail';
  gridRow: number;
  gridCol: number;
  row: number;
  col: number;
}

/**
 * A text token the processor puts between image tokens (Idefics3: <fake_token_around_image>, <row_r_col_c>,
 * <global-img>, the newline after each tile row). It is embedded from the vocabulary, not an image_features row.
 */
export interface LayoutSpecial {
  text: string;
  /** Index of the image token it precedes (= tokens.length when it follows the last). */
  before: number;
  /** Position in the expanded image run (image tokens and specials together, from 0). */
  position: number;
}

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
  /** Tiling families: the tile and the token's place in it. */
  tile?: TileRef;
}

export interface ViewInfo {
  name: ViewName;
  rows: number;
  cols: number;
  /** Index of the first token of this view in the LLM sequence, and how many tokens (newlines included). */
  start: number;
  count: number;
}

export interface TokenLayout {
  imageWidth: number;
  imageHeight: number;
  views: ViewInfo[];
  tokens: LayoutToken[];
  /** Tiling families: the special text tokens of the expanded prompt between the image tokens, in order. */
  specials?: LayoutSpecial[];
}

/** The result of running the vision tower and projector on one image. */
export interface ImageFeatures {
  image: { width: number; height: number };
  /** Model input, [crops, 3, H, W] (for llava crops = 1). */
  pixelValues: Float32Array;
  pixelShape: number[];
  /** Projector output per crop before packing, [crops, tokensPerCrop, hidden]. */
  cropFeatures: Float32Array;
  cropShape: number[];
  /** What the LLM receives, [tokens, hidden]. */
  features: Float32Array;
  hidden: number;
  layout: TokenLayout;
  /** The decoded image the boxes refer to (what the renderers draw on). */
  rgb: RgbImage;
}

export type LensMethod = 'cosine' | 'dot' | 'l2' | 'omp' | 'ompp' | 'logit' | 'logit-raw';
export const LENS_METHODS: readonly LensMethod[] = [
  'cosine',
  'dot',
  'l2',
  'omp',
  'ompp',
  'logit',
  'logit-raw',
];

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
  schema: 'imgtokens.result/1';
  model: { id: string; modelType: string; revision?: string; vocabSize: number; hidden: number };
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
}

/** What the library accepts as an image: a file path, encoded bytes (JPEG/PNG/WebP/GIF), or decoded RGB. */
export type ImageInput = string | Uint8Array | RgbImage;

export interface LensOptions {
  method: LensMethod;
  k: number;
  exclude?: ExcludeKind[];
}
