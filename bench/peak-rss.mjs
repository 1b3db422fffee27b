// Preloaded by the bench (node --import ./bench/peak-rss.mjs dist/cli/main.js ...): at exit, writes this
// process's peak RSS (VmHWM from /proc/self/status, bytes) to the file IMGTOKENS_PEAK_RSS_FILE names. Plain JS,
// so timing the built CLI needs no TypeScript loader.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.IMGTOKENS_PEAK_RSS_FILE;
if (out) {
  process.on('exit', () => {
    let bytes = process.resourceUsage().maxRSS * 1024;
    try {
      const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
      if (kb) bytes = Number(kb) * 1024;
    } catch {
      // not Linux: maxRSS
    }
    writeFileSync(out, String(bytes));
  });
}
