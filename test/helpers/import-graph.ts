/**
 * The import graph of src/: every relative import, `export ... from` and `import('...')` type reference of each
 * .ts file, resolved to the .ts file it names (NodeNext ESM: './x.js' is './x.ts' or './x/index.ts'). Used by
 * test/imports.test.ts to check for cycles and for imports from shared layers into src/families/.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export type ImportGraph = Map<string, string[]>;

const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The relative specifiers a source file imports (comments are stripped first). */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  return [...code.matchAll(SPEC)].map((m) => m[1]);
}

function resolveSpecifier(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  const candidates = [
    base.replace(/\.js$/, '.ts'),
    base + '.ts',
    join(base.replace(/\.js$/, ''), 'index.ts'),
  ];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? null;
}

/** Files (relative to `root`'s parent, '/'-separated, e.g. "src/model.ts") -> the files they import. */
export function readImportGraph(root: string): ImportGraph {
  const top = dirname(resolve(root));
  const rel = (p: string) => relative(top, p).split(sep).join('/');
  const g: ImportGraph = new Map();
  for (const file of walk(resolve(root), [])) {
    const deps = new Set<string>();
    for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
      const target = resolveSpecifier(file, spec);
      if (target) deps.add(rel(target));
    }
    g.set(rel(file), [...deps].sort());
  }
  return g;
}

/** Every cycle as its strongly connected component (Tarjan), files sorted; self-imports count. */
export function findCycles(g: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** Edges `from -> to` where `from` matches `fromPred` and `to` matches `toPred`. */
export function edgesWhere(
  g: ImportGraph,
  fromPred: (f: string) => boolean,
  toPred: (f: string) => boolean,
): string[] {
  const out: string[] = [];
  for (const [f, deps] of g) if (fromPred(f)) for (const d of deps) if (toPred(d)) out.push(`${f} -> ${d}`);
  return out.sort();
}
