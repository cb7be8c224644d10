#!/usr/bin/env node
// A worker keeps ~110 MB live, but V8 lets a heap of that size grow to about 4× before collecting it again when the
// machine has plenty of memory: 700+ MB resident under load. A smaller growing factor keeps it near the live size
// for about the same CPU. Unlike --max-old-space-size this flag can be set from inside the process (V8 reads it at
// every collection), so no re-exec is needed. CURATOR_HEAP_GROWING_PERCENT overrides it; 0 keeps V8's default. 10
// rather than 20 once the old space is also compacted (below): measured in bench/README.md, "2026-11-30, 12:43–13:40".
//
// Requests that live for tens of seconds (slow answers) are promoted to the old space and die scattered over its
// pages; V8's default, tuned for short pauses, evacuates little of them, so the old space keeps growing past its live
// objects. --optimize-for-size makes each full collection evacuate far more of the fragmented pages (also read at
// every collection, so it can be set here). CURATOR_OPTIMIZE_FOR_SIZE=0 keeps V8's default. Measured in
// bench/README.md, "2026-11-30, 12:43–13:40".
if (process.argv[2] === 'worker') {
  const v8 = require('node:v8');
  const percent = Number(process.env.CURATOR_HEAP_GROWING_PERCENT ?? 10);
  if (Number.isInteger(percent) && percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  if (process.env.CURATOR_OPTIMIZE_FOR_SIZE !== '0') v8.setFlagsFromString('--optimize-for-size');
}
const { existsSync } = require('node:fs');
const path = require('node:path');

// The installed package runs its compiled CLI. A checkout of the repository (which has the sources and tsx) runs
// the sources, so that an edit needs no build and a stale lib/ is never what runs.
const sources = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
if (existsSync(sources)) {
  require('tsx/cjs');
  require(sources).main();
} else {
  require('../lib/cli/main.js').main();
}
