/**
 * Exit codes of `curator`, for scripts: 0 done, 1 the job failed (what was saved is printed), 2 bad usage or set-up,
 * 3 the Temporal server was lost mid-job (the job is kept: run the same command again). Interrupted by SIGINT or
 * SIGTERM, `run` exits with 130 or 143 as shells do (the job is kept: the same command resumes it, `curator cancel`
 * stops it).
 */
export const EXIT = { ok: 0, jobFailed: 1, usage: 2, serverLost: 3 } as const;
