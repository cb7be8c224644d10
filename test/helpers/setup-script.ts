/** Runs one of `scripts/setup-*.sh` for a test that needs an outside tool, and returns the path it prints last. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function runSetupScript(name: 'setup-python.sh' | 'setup-browser.sh'): string {
  // The first run installs (a minute or more); later runs are a quick check. Progress goes to stderr, shown as is.
  return execFileSync('bash', [join(__dirname, '..', '..', 'scripts', name)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  })
    .trim()
    .split('\n')
    .pop()!;
}
