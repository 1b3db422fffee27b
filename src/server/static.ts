/**
 * The page's static files: the HTML and CSS (src/web/page.ts), the browser modules (src/web/client/*.ts,
 * compiled by tsc into dist/web/client/*.js), the bundled example images (assets/examples/) and the Noto Sans
 * SC/KR web fonts that src/render also uses (npm @fontsource-variable, OFL-1.1), so CJK, kana and Hangul words
 * render without system fonts or a CDN. Only names
 * found in those folders at startup are served, so no request path can reach another file. Run from source
 * (tsx), the browser modules are transpiled on first request with the typescript dev dependency.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const clientDir = fileURLToPath(new URL('../web/client/', import.meta.url));
/** Library modules the page imports too (dependency-free), served under /vocab/. */
const sharedDir = fileURLToPath(new URL('../vocab/', import.meta.url));
const SHARED_MODULES = new Set(['word']);
const examplesDir = fileURLToPath(new URL('../../assets/examples/', import.meta.url));

function list(dir: string, re: RegExp): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => re.test(n) && !n.endsWith('.test.ts')) : [];
}

/** Font packages served at /fonts/<name>/index.css and /fonts/<name>/files/<file>.woff2. */
export const FONT_PACKAGES = ['noto-sans-sc', 'noto-sans-kr'] as const;

function fontDir(name: string): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve(`@fontsource-variable/${name}/package.json`);
    return dirname(pkg);
  } catch {
    return null;
  }
}

export interface StaticFiles {
  examples: string[];
  example(name: string): Promise<{ bytes: Uint8Array<ArrayBuffer>; type: string } | null>;
  script(name: string): Promise<string | null>;
  /** A dependency-free library module the page shares (`word` = src/vocab/word.ts). */
  sharedScript(name: string): Promise<string | null>;
  /** `file` is "index.css" or "files/<name>.woff2". */
  font(pkg: string, file: string): Promise<{ bytes: Uint8Array<ArrayBuffer>; type: string } | null>;
}

export function loadStaticFiles(): StaticFiles {
  const examples = list(examplesDir, /^[a-z0-9][a-z0-9_-]*\.(jpg|png)$/).sort();
  const compiled = new Set(list(clientDir, /^[a-z0-9-]+\.js$/).map((n) => n.slice(0, -3)));
  const sources = new Set(list(clientDir, /^[a-z0-9-]+\.ts$/).map((n) => n.slice(0, -3)));
  const scripts = new Map<string, Promise<string>>();
  const fonts = new Map<string, { dir: string; files: Set<string> }>();
  for (const name of FONT_PACKAGES) {
    const dir = fontDir(name);
    if (dir) fonts.set(name, { dir, files: new Set(list(join(dir, 'files'), /^[a-z0-9-]+\.woff2$/)) });
  }
  return {
    async font(pkg, file) {
      const f = fonts.get(pkg);
      if (!f) return null;
      if (file === 'index.css') {
        return {
          bytes: new Uint8Array(await readFile(join(f.dir, 'index.css'))),
          type: 'text/css; charset=utf-8',
        };
      }
      const m = /^files\/([a-z0-9-]+\.woff2)$/.exec(file);
      if (!m || !f.files.has(m[1])) return null;
      return { bytes: new Uint8Array(await readFile(join(f.dir, 'files', m[1]))), type: 'font/woff2' };
    },
    examples,
    async example(name) {
      if (!examples.includes(name)) return null;
      const bytes = new Uint8Array(await readFile(examplesDir + name));
      return { bytes, type: name.endsWith('.png') ? 'image/png' : 'image/jpeg' };
    },
    sharedScript(file) {
      const name = file.replace(/\.js$/, '');
      if (!SHARED_MODULES.has(name)) return Promise.resolve(null);
      let s = scripts.get(`vocab/${name}`);
      if (!s) {
        s = existsSync(`${sharedDir}${name}.js`)
          ? readFile(`${sharedDir}${name}.js`, 'utf8')
          : transpile(`${sharedDir}${name}.ts`);
        scripts.set(`vocab/${name}`, s);
      }
      return s;
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
