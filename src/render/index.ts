/** The renderers' public API: PNG, HTML, JSON (result and --save-words), terminal, and atomic file output. */

export { renderPng, renderCanvas, type PngOptions } from './png.js';
export { resultAtLayer, deepPngOptions, type DeepLensName } from './deep.js';
export { renderHtml, escapeHtml, jsonForScript, type HtmlOptions } from './html.js';
export {
  RESULT_SCHEMA,
  RESULT_SCHEMA_DEEP,
  serializeResult,
  parseResult,
  validateResult,
  wordsGrid,
  serializeWords,
  validateWordsGrid,
  type SaveWordsOptions,
} from './json.js';
export {
  shouldShowInline,
  detectInlineProtocol,
  iterm2Image,
  kittyImage,
  inlineImage,
  textGrid,
  INLINE_ENV,
  type InlineProtocol,
  type InlineImageOptions,
  type TextGridOptions,
} from './terminal.js';
export { writeFileAtomic } from './write.js';
export { registerFonts } from './fonts.js';
export { displayWord, type ViewChoice } from './text.js';
