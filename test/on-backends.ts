/**
 * Runs test files with the production data plane selected: starts versitygw and PostgreSQL (as the backend tests do,
 * from the cached builds), then runs each file in a `node --test` of its own with `CURATOR_STORAGE`,
 * `CURATOR_DATABASE_URL` and the `AWS_*` variables set, each file under its own bucket prefix and database so that
 * one file's answers are never another's cache. Workers take these variables from the process even when a test
 * gives them an `env` of their own (see `ActivityDepsOptions.env`).
 *
 *   node --import tsx test/on-backends.ts                                  # the whole integration suite
 *   node --import tsx test/on-backends.ts test/integration/curate.test.ts  # chosen files
 *
 * Prints one line per file with its pass/fail/skip counts and exits non-zero when any failed. Run it in a private
 * network namespace like the integration tests (docs/storage-backends.md, "Running the suite on the backends").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { infraSkipReason, startPgServer, startS3Server } from './helpers/infra-servers';
import { tempDir } from './helpers/temporal';

const BUCKET = 'curator-suite';

/** Integration files that choose their backends themselves: run as they are, not under these variables. */
const OWN_BACKENDS = [
  'storage-backends.test.ts',
  'jobs-on-backends.test.ts',
  'cluster-chaos.test.ts',
  'pg-window.test.ts',
  'limits-across-machines.test.ts',
];

function integrationFiles(): string[] {
  const dir = join('test', 'integration');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts') && !OWN_BACKENDS.includes(f))
    .sort()
    .map((f) => join(dir, f));
}

/** The `# pass`, `# fail` (with `# cancelled`: timed out) and `# skipped` totals node's TAP reporter prints last. */
function counts(tap: string): { pass: number; fail: number; skipped: number } {
  const total = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
  return { pass: total('pass'), fail: total('fail') + total('cancelled'), skipped: total('skipped') };
}

async function main(chosen: string[]): Promise<number> {
  const files = chosen.length > 0 ? chosen : integrationFiles();
  const skip = infraSkipReason('versitygw') ?? infraSkipReason('postgres');
  if (skip) {
    process.stderr.write(`cannot start the backends: ${skip}\n`);
    return 1;
  }
  const s3 = await startS3Server(tempDir('suite-s3'), BUCKET);
  const pg = await startPgServer(tempDir('suite-pg'));
  // Stopped from outside (Ctrl-C): the running file and the servers go too, not left running.
  let current: ChildProcess | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      current?.kill(signal);
      void Promise.allSettled([s3.stop(), pg.stop()]).then(() => process.exit(130));
    });
  }
  const results: string[] = [];
  const totals = { pass: 0, fail: 0, skipped: 0 };
  let failed = 0;
  try {
    for (const [n, file] of files.entries()) {
      const name = basename(file)
        .replace(/\.test\.ts$/, '')
        .replace(/[^a-z0-9]/gi, '_');
      const env = {
        ...process.env,
        ...s3.env,
        CURATOR_STORAGE: `s3://${BUCKET}/${name}`,
        CURATOR_DATABASE_URL: await pg.database(`suite_${n}_${name}`.toLowerCase().slice(0, 60)),
      };
      process.stderr.write(`\n=== ${file} on s3://${BUCKET}/${name} + PostgreSQL\n`);
      const started = Date.now();
      // Not spawnSync: this process reads the servers' output, and a server whose pipe fills up stops answering.
      const child = (current = spawn(
        process.execPath,
        ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=900000', file],
        { env, stdio: ['ignore', 'pipe', 'inherit'] }
      ));
      let tap = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        process.stdout.write(chunk);
        tap += chunk.toString();
      });
      const [code] = (await once(child, 'exit')) as [number | null];
      const ok = code === 0;
      if (!ok) failed++;
      const c = counts(tap);
      for (const k of ['pass', 'fail', 'skipped'] as const) totals[k] += c[k];
      results.push(
        `${ok ? 'pass' : 'FAIL'}  ${file}  ${c.pass} pass, ${c.fail} fail, ${c.skipped} skipped  ` +
          `(${Math.round((Date.now() - started) / 1000)} s)`
      );
    }
  } finally {
    await Promise.allSettled([s3.stop(), pg.stop()]);
  }
  const total = `${files.length} files: ${totals.pass} pass, ${totals.fail} fail, ${totals.skipped} skipped`;
  const own =
    chosen.length > 0 ? '' : `\nnot run here (they choose their backends themselves): ${OWN_BACKENDS.join(', ')}`;
  process.stdout.write(`\nwith CURATOR_STORAGE and CURATOR_DATABASE_URL set:\n${results.join('\n')}\n${total}${own}\n`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
);
