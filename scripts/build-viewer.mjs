// Bundles the HTML export's viewer (src/web/client/viewer.ts: the one result viewer, result-view.ts, that the web
// page also runs, and the helpers it imports) into one IIFE with
// esbuild, for src/render/html.ts to inline into every exported page. `npm run build` writes dist/web/viewer.js;
// run from source (tests, tsx), src/render/viewer-script.ts calls bundleViewer() on first use instead.
// Usage: node scripts/build-viewer.mjs [out-file]   (default dist/web/viewer.js)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The viewer bundle's source text. */
export async function bundleViewer() {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    stdin: {
      contents: "import { startViewer } from './viewer.ts';\nstartViewer();\n",
      resolveDir: resolve(root, 'src/web/client'),
      sourcefile: 'viewer-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const text = r.outputFiles[0].text;
  // Inlined into a <script> element: it must not close the element or open a comment.
  if (/<\/script|<!--/i.test(text)) throw new Error('the viewer bundle contains </script or <!--');
  return text;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? resolve(root, 'dist/web/viewer.js'));
  const text = await bundleViewer();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  console.log(`viewer bundle: ${out} (${text.length} bytes)`);
}
