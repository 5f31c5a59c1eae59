#!/usr/bin/env node
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((e) => {
  process.stderr.write(`strata: ${e && e.message ? e.message : String(e)}\n`);
  process.exit(1);
});
