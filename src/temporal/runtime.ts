/** The SDK runtime's log level: worker state changes at INFO would drown what the user should read. */
import { DefaultLogger, Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';

import { DEFAULT_LOG_LEVEL } from '../defaults';
import { ownFailure } from '../errors';

let installed = false;

interface FailureLike {
  type?: unknown;
  message?: unknown;
}

/**
 * The SDK's logger, with one change: an activity or workflow that failed for good with an error of this library's
 * own (an `ApplicationFailure` marked non-retryable: a changed curator, a damaged file, a missing key) is one line
 * naming what failed and the error, not the error's stack and every field of the task. Its job reports it in full.
 */
export class CuratorLogger extends DefaultLogger {
  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const own =
      message === 'Activity failed' || message === 'Workflow failed' ? ownFailure<FailureLike>(meta?.error) : undefined;
    if (own) {
      const what = meta?.activityType ?? meta?.workflowType;
      super.log(
        level,
        `${message.split(' ')[0]} ${String(what)} of ${String(meta?.workflowId)} failed (${String(own.type)}): ` +
          String(own.message)
      );
      return;
    }
    super.log(level, message, meta);
  }
}

/**
 * Installs a runtime logging at `level` (default WARN, or `CURATOR_LOG_LEVEL`); only the first call counts.
 * `ownSignals`: the caller handles SIGINT and SIGTERM itself (stopping gently, see `src/interrupts.ts`), so the
 * runtime must not shut the workers down on them.
 */
export function installQuietRuntime(
  level: LogLevel = (process.env.CURATOR_LOG_LEVEL as LogLevel) || DEFAULT_LOG_LEVEL,
  ownSignals = false
): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new CuratorLogger(level), ...(ownSignals ? { shutdownSignals: [] } : {}) });
  } catch {
    // A runtime exists already (the user installed theirs): keep it.
  }
}
