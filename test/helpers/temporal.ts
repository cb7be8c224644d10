/** A real Temporal dev server for integration tests: the CLI installed by scripts/setup.sh, or TEMPORAL_ADDRESS. */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { installQuietRuntime } from '../../src/temporal/runtime';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CURATOR_SEARCH_ATTRIBUTES } from '../../src/search-attributes';
import { findTemporalCli } from '../../src/temporal/cli-path';
import './probe-off';

export async function startTemporal(extraArgs: string[] = []): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  if (process.env.TEMPORAL_ADDRESS) {
    return TestWorkflowEnvironment.createFromExistingServer({ address: process.env.TEMPORAL_ADDRESS });
  }
  const cli = findTemporalCli();
  if (!cli) throw new Error('no Temporal CLI found: run `bash scripts/setup.sh` (or set TEMPORAL_CLI_PATH)');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      extraArgs,
      searchAttributes: CURATOR_SEARCH_ATTRIBUTES,
    },
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `curator-${prefix}-`));
}
