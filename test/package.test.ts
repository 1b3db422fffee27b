/**
 * The library as published: `npm pack` (which runs `prepare`, i.e. the build), the tarball installed into an empty
 * temporary project with production dependencies only, then what a user does with it: import `imgtokens` from an ESM
 * .mjs script and run loadModel -> encode -> lens on the tiny LLaVA fixture, type-check a small consumer .ts against
 * the shipped .d.ts with the project's tsc, and run the installed bin's --help.
 * The install is a real `npm install --omit=dev --prefer-offline` (the npm registry is the only network it uses;
 * CI has it). Where the registry cannot be reached, the tarball is unpacked into the project and its production
 * dependencies are linked from this checkout's node_modules instead, which still checks that the packed files are
 * complete; the test's diagnostic says which way it ran.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_K, DEFAULT_METHOD } from '../src/lens-methods.js';

const ROOT = resolve(import.meta.dirname, '..');
const FIXTURE = join(ROOT, 'test/fixtures/llava/tiny-llava');
const IMAGE = join(ROOT, 'test/fixtures/llava/images/checker_64x64.png');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};

function run(cmd: string, args: string[], cwd: string, timeoutMs = 180_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, NO_COLOR: '1' },
  });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const CONSUMER_MJS = `
import { loadModel, validateResult, serializeResult, renderHtml, LENS_METHODS, DEFAULT_METHOD, DEFAULT_K,
  ImgTokensError, BadInputError } from 'imgtokens';
const [model, image] = process.argv.slice(2);
const m = await loadModel(model);
const f = await m.encode(image);
const r = await m.lens(f, { method: DEFAULT_METHOD, k: DEFAULT_K });
const html = await renderHtml(r, f.rgb);
let bad = null;
try { await m.lens(f, { method: 'nearest', k: 1 }); } catch (e) { bad = e instanceof BadInputError && e instanceof ImgTokensError; }
await m.close();
console.log(JSON.stringify({
  modelType: m.info.modelType, tokens: r.tokens.length, layoutTokens: f.layout.tokens.length,
  hidden: f.hidden, features: f.features.length, method: r.method, k: r.k, methods: LENS_METHODS,
  problems: validateResult(r), jsonBytes: serializeResult(r).length, html: html.startsWith('<!doctype html>'),
  words: r.tokens.filter((t) => t.top.length === 1 && typeof t.top[0].text === 'string').length, badMethod: bad,
}));
`;

const CONSUMER_TS = `
import { loadModel, LENS_METHODS, textGrid, type ImgTokensModel, type LensMethod, type ResultJson,
  type TokenLayout } from 'imgtokens';

export async function firstWords(dir: string, image: string): Promise<string[]> {
  const model: ImgTokensModel = await loadModel(dir, { onProgress: (e) => void e.status });
  const f = await model.encode(image);
  const layout: TokenLayout = f.layout;
  const method: LensMethod = LENS_METHODS[0];
  const r: ResultJson = await model.lens(f, { method, k: 2, exclude: ['special'] });
  const grid: string = textGrid(r, { view: 'base', columns: 80 });
  await model.close();
  return [grid, ...r.tokens.slice(0, layout.tokens.length).map((t) => t.top[0]?.text ?? '')];
}

// The shipped types are real, not any: these must fail to type-check.
// @ts-expect-error not a lens method
export const notAMethod: LensMethod = 'nearest';
// @ts-expect-error the result schema is a literal
export const notASchema: ResultJson['schema'] = 'imgtokens.result/3';
`;

describe('the packed library, installed into an empty project', () => {
  let tmp: string;
  let project: string;
  let tarball: string;
  let mode = 'npm install --omit=dev';

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'imgtokens-pack-'));
    project = join(tmp, 'consumer');
    mkdirSync(project);
    // npm pack runs `prepare` (the build) first, so dist/ is what this checkout's sources compile to.
    const out = ok(run('npm', ['pack', '--json', '--pack-destination', tmp], ROOT, 300_000), 'npm pack');
    const [info] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string }>;
    tarball = join(tmp, info.filename);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    copyFileSync(join(ROOT, '.npmrc'), join(project, '.npmrc')); // onnxruntime-node-install=skip
    const install = run(
      'npm',
      ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', tarball],
      project,
      240_000,
    );
    if (install.status !== 0) {
      // No registry: unpack the tarball as node_modules/imgtokens and link its production dependencies.
      mode = `unpacked tarball + linked dependencies (npm install failed: ${install.stderr.split('\n').find((l) => l.includes('error')) ?? install.status})`;
      const dest = join(project, 'node_modules', pkg.name);
      mkdirSync(dest, { recursive: true });
      ok(run('tar', ['-xzf', tarball, '-C', dest, '--strip-components=1'], project), 'tar');
      for (const dep of Object.keys(pkg.dependencies)) {
        const at = join(project, 'node_modules', dep);
        mkdirSync(resolve(at, '..'), { recursive: true });
        symlinkSync(join(ROOT, 'node_modules', dep), at, 'dir');
      }
      mkdirSync(join(project, 'node_modules/.bin'), { recursive: true });
      symlinkSync(join(dest, 'dist/cli/main.js'), join(project, 'node_modules/.bin/imgtokens'));
    }
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('the tarball holds the entry, its types, the bin and the worker', (t) => {
    t.diagnostic(`installed by: ${mode}`);
    const files = ok(run('tar', ['-tzf', tarball], tmp), 'tar -t')
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'package.json',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'dist/batch/prepare-worker.js',
      'dist/families/index.js',
      'dist/web/viewer.js',
    ]) {
      assert.ok(files.includes(f), `${f} is packed`);
    }
    assert.ok(!files.some((f) => f.endsWith('.test.js')), 'no compiled tests in the package');
    const installed = JSON.parse(
      readFileSync(join(project, 'node_modules', pkg.name, 'package.json'), 'utf8'),
    ) as { version: string; exports: { '.': { import: string; types: string } } };
    assert.equal(installed.version, pkg.version);
    assert.deepEqual(installed.exports['.'], { types: './dist/index.d.ts', import: './dist/index.js' });
  });

  test('an ESM script imports imgtokens and runs loadModel -> encode -> lens on the fixture', () => {
    writeFileSync(join(project, 'use.mjs'), CONSUMER_MJS);
    const out = ok(run(process.execPath, ['use.mjs', FIXTURE, IMAGE], project), 'node use.mjs');
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(r.modelType, 'llava');
    assert.equal(r.method, DEFAULT_METHOD);
    assert.equal(r.k, DEFAULT_K);
    assert.equal(r.tokens, r.layoutTokens);
    assert.ok((r.tokens as number) > 0);
    assert.equal(r.features, (r.tokens as number) * (r.hidden as number));
    assert.deepEqual(r.problems, []);
    assert.equal(r.words, r.tokens, 'every token has its one word (k = 1)');
    assert.equal(r.html, true);
    assert.equal(r.badMethod, true, 'an unknown method is a BadInputError (an ImgTokensError)');
    assert.ok((r.methods as string[]).includes(DEFAULT_METHOD));
  });

  test('a consumer .ts type-checks against the shipped .d.ts', () => {
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          // A consumer brings its own @types/node; this one borrows the checkout's.
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    );
    ok(run(process.execPath, [TSC, '-p', 'tsconfig.json'], project), 'tsc on the consumer');
    // And the checker really reads the shipped types: a wrong call fails.
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { loadModel } from 'imgtokens';\nexport const m = loadModel(42);\n`,
    );
    const bad = run(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stdout, /consumer\.ts.*error TS2345/);
  });

  test("the installed bin's --help", () => {
    const out = ok(
      run(join(project, 'node_modules/.bin/imgtokens'), ['--help'], project),
      'imgtokens --help',
    );
    assert.match(out, /^imgtokens: /);
    assert.match(out, /Usage:/);
    assert.match(out, new RegExp(`--method <name> .*\\(default ${DEFAULT_METHOD}\\)`));
  });
});
