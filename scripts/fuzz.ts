/**
 * The longer fuzz run: every target in test/fuzz/targets.ts for --seconds each (default 30), printing the
 * inputs tried per target and any crash with fast-check's shrunk counterexample and seed (each crash found
 * becomes a named test beside the tests of the parser it broke).
 *   node --import tsx scripts/fuzz.ts [--seconds 30] [--only <name substring>] [--seed n]
 * Exits 1 when any target found a crash.
 */
import { parseArgs } from 'node:util';
import { TARGETS, runTarget } from '../test/fuzz/targets.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '30' }, only: { type: 'string' }, seed: { type: 'string' } },
});
const ms = Number(values.seconds) * 1000;
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
console.log(`fuzz: ${values.seconds} s per target, seed ${seed}`);
let crashes = 0;
let total = 0;
for (const t of TARGETS.filter((x) => !values.only || x.name.includes(values.only))) {
  const r = await runTarget(t, ms, 1e9, seed);
  total += r.runs;
  if (r.failed) crashes++;
  console.log(`${t.name.padEnd(28)} ${String(r.runs).padStart(9)} inputs  ${r.failed ? 'CRASH' : 'ok'}`);
  if (r.failed)
    console.log(`  counterexample: ${r.counterexample}\n  ${r.error?.split('\n').slice(0, 4).join('\n  ')}`);
}
console.log(`total ${total} inputs, ${crashes} target(s) with a crash`);
process.exit(crashes > 0 ? 1 : 0);
