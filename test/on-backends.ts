/**
 * Runs chosen test files with the production data plane selected: starts versitygw and PostgreSQL (as the backend
 * tests do, from the cached builds), then runs each file in a `node --test` of its own with `CURATOR_STORAGE`,
 * `CURATOR_DATABASE_URL` and the `AWS_*` variables set, each file under its own bucket prefix and database so that
 * one file's answers are never another's cache. Workers take these variables from the process even when a test
 * gives them an `env` of their own (see `ActivityDepsOptions.env`).
 *
 *   node --import tsx test/on-backends.ts test/integration/curate.test.ts test/integration/durability.test.ts
 *
 * Prints one line per file and exits non-zero when any failed. Run it in a private network namespace like the
 * integration tests (docs/storage-backends.md, "Running the suite on the backends").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { basename } from 'node:path';
import { infraSkipReason, startPgServer, startS3Server } from './helpers/infra-servers';
import { tempDir } from './helpers/temporal';

const BUCKET = 'curator-suite';

async function main(files: string[]): Promise<number> {
  if (files.length === 0) {
    process.stderr.write('usage: node --import tsx test/on-backends.ts <test file>...\n');
    return 2;
  }
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
        { env, stdio: 'inherit' }
      ));
      const [code] = (await once(child, 'exit')) as [number | null];
      const ok = code === 0;
      if (!ok) failed++;
      results.push(`${ok ? 'pass' : 'FAIL'}  ${file}  (${Math.round((Date.now() - started) / 1000)} s)`);
    }
  } finally {
    await Promise.allSettled([s3.stop(), pg.stop()]);
  }
  process.stdout.write(`\nwith CURATOR_STORAGE and CURATOR_DATABASE_URL set:\n${results.join('\n')}\n`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
);
