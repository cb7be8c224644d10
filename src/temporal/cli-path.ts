/**
 * Locates the Temporal CLI binary that runs the local dev server (tests, examples, benchmarks), without spawning
 * anything. `scripts/setup.sh` installs one into `<repo>/.tools/temporal/bin/temporal` when no cluster is given.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const PACKAGE_NAME = 'temporal-curator';
const EXE_SUFFIX = process.platform === 'win32' ? '.exe' : '';

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The nearest folder at or above `start` whose package.json is this package's (name 'temporal-curator'). */
export function findRepoRoot(start: string = __dirname): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === PACKAGE_NAME) return dir;
    } catch {
      // no package.json here, or not JSON: keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Path of the Temporal CLI to use, in order of preference:
 *   1. `TEMPORAL_CLI_PATH`, if it names an executable file;
 *   2. `<root>/.tools/temporal/bin/temporal` (root defaults to this package's repo root), as installed by
 *      scripts/setup.sh;
 *   3. `temporal` on PATH.
 * Returns undefined when none is found; callers then let the Temporal SDK download its own CLI (needs internet).
 */
export function findTemporalCli(root?: string): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv && isExecutableFile(fromEnv)) return path.resolve(fromEnv);

  const repoRoot = root ?? findRepoRoot();
  if (repoRoot) {
    const local = path.join(repoRoot, '.tools', 'temporal', 'bin', `temporal${EXE_SUFFIX}`);
    if (isExecutableFile(local)) return local;
  }

  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    // An empty entry means the current directory in POSIX shells; don't pick up binaries from there.
    if (!dir) continue;
    const candidate = path.join(dir, `temporal${EXE_SUFFIX}`);
    if (isExecutableFile(candidate)) return path.resolve(candidate);
  }
  return undefined;
}
