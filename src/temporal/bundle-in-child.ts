/**
 * Bundling the workflows in a short-lived child process, so that the worker never holds webpack's memory: V8 keeps
 * the heap a bundling grew to, and a worker that bundled at start stays that much larger under load for its whole
 * life (bench/README.md, 2026-11-30, 09:52–10:18). The child loads nothing of ours: it runs the SDK's
 * `bundleWorkflowCode` on the workflows module and writes the code to a file this process reads.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Plain JavaScript for `node -e`: the SDK's bundler compiles the TypeScript workflows itself, so no loader is needed.
const SCRIPT = `
const [sdk, workflowsPath, out] = process.argv.slice(1);
const quiet = () => undefined;
const logger = {
  log: quiet, trace: quiet, debug: quiet, info: quiet,
  warn: (message, meta) => console.warn(message, meta ?? ''),
  error: (message, meta) => console.error(message, meta ?? ''),
};
require(sdk)
  .bundleWorkflowCode({ workflowsPath, logger })
  .then((bundle) => require('node:fs').writeFileSync(out, bundle.code))
  .catch((err) => { console.error(err); process.exit(1); });
`;

/**
 * The workflow bundle of `workflowsPath`, built by `bundleWorkflowCode` in a child process. Rejects when the child
 * cannot run or fails (its errors are on this process's stderr); callers may then bundle in-process.
 */
export async function bundleInChildProcess(workflowsPath: string): Promise<{ code: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'curator-bundle-'));
  const out = join(dir, 'workflows.js');
  try {
    const child = spawn(process.execPath, ['-e', SCRIPT, require.resolve('@temporalio/worker'), workflowsPath, out], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const code = await new Promise<number | string>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (exitCode, signal) => resolve(exitCode ?? String(signal)));
    });
    if (code !== 0) throw new Error(`bundling the workflows of ${workflowsPath} in a child process ended with ${code}`);
    return { code: await readFile(out, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
