#!/usr/bin/env node
// The package ships TypeScript sources; tsx compiles them (and the user's curator modules) on the fly.
require('tsx/cjs');
require('../src/cli/main.ts').main();
