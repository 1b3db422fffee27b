/**
 * The HTML export's script: the typed viewer (src/web/client/viewer.ts) as one bundle. A built package reads the
 * bundle `npm run build` wrote (dist/web/viewer.js); a checkout run from source bundles it on first use with
 * esbuild (scripts/build-viewer.mjs, a dev dependency). Either way the text is read once per process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '../errors.js';

let cached: Promise<string> | null = null;

async function load(): Promise<string> {
  const built = fileURLToPath(new URL('../web/viewer.js', import.meta.url));
  if (existsSync(built)) return readFileSync(built, 'utf8');
  const script = new URL('../../scripts/build-viewer.mjs', import.meta.url);
  if (!existsSync(fileURLToPath(script))) {
    throw new NotFoundError(`the HTML viewer bundle ${built} is missing`, {
      hint: 'reinstall imgtokens, or run `npm run build` in a checkout',
    });
  }
  const mod = (await import(script.href)) as { bundleViewer(): Promise<string> };
  return mod.bundleViewer();
}

export function viewerScript(): Promise<string> {
  cached ??= load();
  return cached;
}
