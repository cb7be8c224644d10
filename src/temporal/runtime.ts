/** The SDK runtime's log level: worker state changes at INFO would drown what the user should read. */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

/**
 * Installs a runtime logging at `level` (default WARN, or `CURATOR_LOG_LEVEL`); only the first call counts.
 * `ownSignals`: the caller handles SIGINT and SIGTERM itself (stopping gently, see `src/interrupts.ts`), so the
 * runtime must not shut the workers down on them.
 */
export function installQuietRuntime(
  level: LogLevel = (process.env.CURATOR_LOG_LEVEL as LogLevel) || 'WARN',
  ownSignals = false
): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger(level), ...(ownSignals ? { shutdownSignals: [] } : {}) });
  } catch {
    // A runtime exists already (the user installed theirs): keep it.
  }
}
