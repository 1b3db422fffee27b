/** Vocabulary text, display forms, token classes, exclude masks and CJK glosses. */
export { Vocab, type TokenClass } from './vocab.js';
export { visibleText, displayBytes, bytePiece, VISIBLE, EMPTY } from './display.js';
export { cjkGloss, hasHan } from './gloss.js';
