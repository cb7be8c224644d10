#!/usr/bin/env node
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
