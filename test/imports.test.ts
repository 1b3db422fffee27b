/**
 * The layering of src/, read from the import graph (test/helpers/import-graph.ts): no import cycles; no import from a
 * shared layer into src/families/ (only the entry points, the loader and the batch/CLI/server layers above it may
 * name the family registry); config reading below everything (src/config imports only the errors).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { edgesWhere, findCycles, importSpecifiers, readImportGraph } from './helpers/import-graph.js';

/** The layers above the families: they may import src/families/. Everything else in src/ is shared. */
const ABOVE_FAMILIES = ['src/index.ts', 'src/model.ts', 'src/batch/', 'src/cli/', 'src/server/'];
const isFamily = (f: string) => f.startsWith('src/families/');
const isShared = (f: string) => !isFamily(f) && !ABOVE_FAMILIES.some((p) => f === p || f.startsWith(p));

const graph = readImportGraph('src');

test('the checker sees imports, re-exports and type references, and finds cycles', () => {
  assert.deepEqual(
    importSpecifiers(
      "import { a } from './a.js';\nexport { b } from '../b.js';\nimport type { C } from './c.js';\n" +
        "type D = import('./d.js').D;\n// import { e } from './e.js';\nimport x from 'node:fs';",
    ),
    ['./a.js', '../b.js', './c.js', './d.js'],
  );
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', ['d']],
    ['e', ['a']],
  ]);
  assert.deepEqual(findCycles(g), [['a', 'b', 'c'], ['d']]);
  assert.deepEqual(findCycles(new Map([['x', ['y']]])), []);
  assert.ok(graph.size > 50, `read ${graph.size} files of src/`);
  assert.ok(
    graph.get('src/model.ts')?.includes('src/families/index.ts'),
    'model.ts -> families/index.ts seen',
  );
});

test('src/ has no import cycles', () => {
  assert.deepEqual(findCycles(graph), []);
});

test('no shared layer imports a family', () => {
  assert.deepEqual(edgesWhere(graph, isShared, isFamily), []);
});

test('config reading sits below everything: src/config imports only the errors', () => {
  assert.deepEqual(
    edgesWhere(
      graph,
      (f) => f.startsWith('src/config/'),
      (d) => d !== 'src/errors.ts' && !d.startsWith('src/config/'),
    ),
    [],
  );
});
