/**
 * The page's static files: the HTML and CSS (src/web/page.ts), the browser modules (src/web/client/*.ts,
 * compiled by tsc into dist/web/client/*.js) and the bundled example images (assets/examples/). Only names
 * found in those folders at startup are served, so no request path can reach another file. Run from source
 * (tsx), the browser modules are transpiled on first request with the typescript dev dependency.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const clientDir = fileURLToPath(new URL('../web/client/', import.meta.url));
const examplesDir = fileURLToPath(new URL('../../assets/examples/', import.meta.url));

function list(dir: string, re: RegExp): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => re.test(n) && !n.endsWith('.test.ts')) : [];
}

export interface StaticFiles {
  examples: string[];
  example(name: string): Promise<{ bytes: Uint8Array<ArrayBuffer>; type: string } | null>;
  script(name: string): Promise<string | null>;
}

export function loadStaticFiles(): StaticFiles {
  const examples = list(examplesDir, /^[a-z0-9][a-z0-9_-]*\.(jpg|png)$/).sort();
  const compiled = new Set(list(clientDir, /^[a-z0-9-]+\.js$/).map((n) => n.slice(0, -3)));
  const sources = new Set(list(clientDir, /^[a-z0-9-]+\.ts$/).map((n) => n.slice(0, -3)));
  const scripts = new Map<string, Promise<string>>();
  return {
    examples,
    async example(name) {
      if (!examples.includes(name)) return null;
      const bytes = new Uint8Array(await readFile(examplesDir + name));
      return { bytes, type: name.endsWith('.png') ? 'image/png' : 'image/jpeg' };
    },
    script(file) {
      const name = file.replace(/\.js$/, '');
      if (!compiled.has(name) && !sources.has(name)) return Promise.resolve(null);
      let s = scripts.get(name);
      if (!s) {
        s = compiled.has(name)
          ? readFile(`${clientDir}${name}.js`, 'utf8')
          : transpile(`${clientDir}${name}.ts`);
        scripts.set(name, s);
      }
      return s;
    },
  };
}

async function transpile(path: string): Promise<string> {
  const ts = (await import('typescript')).default;
  const out = ts.transpileModule(await readFile(path, 'utf8'), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    fileName: path,
  });
  return out.outputText;
}
