/**
 * Our worker as users run it: the compiled package (`lib/`, built by `npm run build` as `npm pack` builds it) on plain
 * `node`, without tsx. A worker run from the sources carries what users never do: tsx's transform hooks, inline
 * source maps and names kept for them (bench/README.md). The dependencies are this checkout's, at the versions the
 * package's lock names; `test/integration/package.test.ts` covers the package installed from its tarball.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..', '..');

/** The files a compiled worker runs: the CLI's entry and the benchmarks' curators, both plain JavaScript. */
export interface CompiledWorker {
  cli: string;
  curators: string;
}

let built: CompiledWorker | undefined;

/** Builds lib/ once per process and writes the entry and curators that load it; later calls reuse them. */
export function compiledWorker(): CompiledWorker {
  if (built) return built;
  console.error('building the package (npm run build) for a compiled worker');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = mkdtempSync(join(tmpdir(), 'bench-compiled-'));
  const lib = join(ROOT, 'lib');
  // The curators' own module, without its (type-only) import of the sources.
  const set = ts.transpileModule(readFileSync(join(ROOT, 'bench', 'curator-set.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  writeFileSync(join(dir, 'curator-set.js'), set);
  const curators = join(dir, 'curators.js');
  writeFileSync(
    curators,
    `const { defineCurator } = require(${JSON.stringify(lib)});\n` +
      `const { benchText, benchTextClaude } = require('./curator-set.js').benchCurators(defineCurator);\n` +
      `module.exports = [benchText, benchTextClaude];\n`
  );
  const cli = join(dir, 'curator.js');
  writeFileSync(cli, `require(${JSON.stringify(join(lib, 'cli', 'main.js'))}).main();\n`);
  built = { cli, curators };
  return built;
}

/** The `--worker` flag of the benchmarks: `compiled` (the package on plain node) or `sources` (through tsx). */
export function workerFlag(value: string | undefined): 'compiled' | 'sources' {
  if (value !== 'compiled' && value !== 'sources') throw new Error(`--worker is compiled or sources, got ${value}`);
  return value;
}
