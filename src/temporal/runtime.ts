/** The SDK runtime's log level: worker state changes at INFO would drown what the user should read. */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

/** Installs a runtime logging at `level` (default WARN, or `CURATOR_LOG_LEVEL`); only the first call counts. */
export function installQuietRuntime(level: LogLevel = (process.env.CURATOR_LOG_LEVEL as LogLevel) || 'WARN'): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    // A runtime exists already (the user installed theirs): keep it.
  }
}
