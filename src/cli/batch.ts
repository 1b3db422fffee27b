/** `imgtokens batch`: placeholder until the batch mode lands (issue 6). */
import { UnsupportedModelError } from '../errors.js';

export async function runBatch(_argv: string[]): Promise<number> {
  throw new UnsupportedModelError('imgtokens batch is not available in this build');
}
