// Every fuzz target for a bounded time (about 2 s each) inside `npm test`; scripts/fuzz.ts runs them longer.
// A failure prints fast-check's shrunk counterexample: turn it into a named test beside the parser's tests.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TARGETS, runTarget } from './targets.js';

const MS = Number(process.env.IMGTOKENS_FUZZ_MS ?? 2000);

describe('fuzz', () => {
  for (const t of TARGETS) {
    test(t.name, async () => {
      const r = await runTarget(t, MS);
      assert.equal(r.failed, false, `${t.name}: ${r.counterexample}\n${r.error}`);
      assert.ok(r.runs > 0, 'at least one input was tried');
    });
  }
});
