/**
 * Integration tests count their jobs' provider calls exactly (one per row, none on a rerun). The limits probe adds a
 * streamed "hi" per bucket and worker process, so it is off in the processes the tests start (workers in this
 * process, CLI processes that inherit its environment), unless a test's worker environment turns it on:
 * `CURATOR_PROBE_LIMITS: 'on'` (test/integration/limits.test.ts tests the probe that way). Imported for its effect by
 * the helpers every integration test uses.
 */
process.env.CURATOR_PROBE_LIMITS ??= 'off';
