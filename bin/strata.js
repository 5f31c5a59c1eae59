#!/usr/bin/env node
// The `strata` command. Built output lives in dist/ (npm run build).
await import('../dist/cli/bin.js');
