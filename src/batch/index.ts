/** Batch mode as a library: expand inputs, shard, resume, and run one model over many images (see runner.ts). */
export { expandInputs, globToRegExp, IMAGE_EXTENSIONS, isImageName } from './inputs.js';
export { formatLine, readExisting, type BatchLine, type ExistingOutput } from './output.js';
export type { PrepareMode } from './preparer.js';
export { runBatch, type BatchModel, type BatchOptions, type BatchSummary } from './runner.js';
export { inShard, parseShard, shardOf, type Shard } from './shard.js';
