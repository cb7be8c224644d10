/**
 * The OS's own accounting of a process: CPU seconds from /proc/<pid>/stat (utime + stime) and memory from
 * /proc/<pid>/status (VmRSS now, VmHWM the peak). Writing "5" to /proc/<pid>/clear_refs resets the peak, so one
 * long-lived process (a worker, the dev server) gets a peak per job. Processes that come and go (Curator, the bare
 * loop) are measured by `/usr/bin/time -v` instead: see `timedCommand`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcSample {
  pid: number;
  /** user + system CPU seconds since the process started. */
  cpuSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  rssMB: number;
  /** Peak resident set since start or the last `resetPeak`. */
  peakMB: number;
}

export function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = Number(fields[11]) / TICKS;
    const system = Number(fields[12]) / TICKS;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return {
      pid,
      cpuSeconds: user + system,
      userSeconds: user,
      systemSeconds: system,
      rssMB: kb('VmRSS') / 1024,
      peakMB: kb('VmHWM') / 1024,
    };
  } catch {
    return undefined;
  }
}

/** Resets VmHWM to the current RSS; false where the kernel does not allow it (then the peak is since start). */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Pids whose command line contains `needle` (e.g. the dev server's unique SQLite path). */
export function findPids(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(needle) && Number(entry) !== process.pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Samples a long-lived process every `everyMs` and keeps the largest RSS seen, as a cross-check of VmHWM (and
 * the only figure where clear_refs is refused). `stop()` returns the delta CPU and both peaks.
 */
export function watchProcess(pid: number, everyMs = 500) {
  const start = readProc(pid);
  const peakReset = resetPeak(pid);
  let maxRss = start?.rssMB ?? 0;
  let last = start;
  const timer = setInterval(() => {
    const s = readProc(pid);
    if (!s) return;
    last = s;
    maxRss = Math.max(maxRss, s.rssMB);
  }, everyMs);
  timer.unref();
  return {
    stop(): { cpuSeconds: number; peakMB: number; sampledPeakMB: number; peakSinceStart: boolean } {
      clearInterval(timer);
      const end = readProc(pid) ?? last;
      maxRss = Math.max(maxRss, end?.rssMB ?? 0);
      return {
        cpuSeconds: round((end?.cpuSeconds ?? 0) - (start?.cpuSeconds ?? 0), 2),
        peakMB: round(end?.peakMB ?? maxRss, 1),
        sampledPeakMB: round(maxRss, 1),
        peakSinceStart: !peakReset,
      };
    },
  };
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export interface TimedResult {
  code: number | null;
  stdout: string;
  /** From `/usr/bin/time -v`: user + system CPU seconds and the peak resident set of the command. */
  cpuSeconds: number;
  peakMB: number;
  wallSeconds: number;
}

const TIME_BIN = '/usr/bin/time';

/** Installs Debian's `time` if /usr/bin/time is missing (apt-get update first, as the machine wants). */
export function ensureGnuTime(): boolean {
  if (existsSync(TIME_BIN)) return true;
  try {
    console.error('installing /usr/bin/time (Debian package time)…');
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', 'time'], { stdio: 'ignore' });
  } catch (err) {
    console.error(`could not install time: ${(err as Error).message}; falling back to /proc sampling`);
  }
  return existsSync(TIME_BIN);
}

/**
 * Runs a command under `/usr/bin/time -v` and parses its report (falling back to /proc sampling without it). Stdout
 * is collected.
 */
export async function timedCommand(
  command: string,
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** Where the command's stderr goes: ours (default), nowhere, or a file descriptor. */
    stderr?: 'inherit' | 'ignore' | number;
    onSpawn?: (child: ChildProcess) => void;
  } = {}
): Promise<TimedResult> {
  const gnu = existsSync(TIME_BIN);
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const report = join(mkdtempSync(join(tmpdir(), 'bench-time-')), 'time.txt');
  const started = performance.now();
  const child = gnu
    ? spawn(TIME_BIN, ['-v', '-o', report, command, ...args], {
        env: options.env,
        cwd: options.cwd,
        stdio: ['ignore', 'pipe', options.stderr ?? 'inherit'],
      })
    : spawn(command, args, {
        env: options.env,
        cwd: options.cwd,
        stdio: ['ignore', 'pipe', options.stderr ?? 'inherit'],
      });
  options.onSpawn?.(child);
  let sampled: ProcSample | undefined;
  let sampledPeak = 0;
  const sampler = gnu
    ? undefined
    : setInterval(() => {
        const s = child.pid ? readProc(child.pid) : undefined;
        if (s) {
          sampled = s;
          sampledPeak = Math.max(sampledPeak, s.peakMB);
        }
      }, 200);
  let stdout = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => (stdout += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (sampler) clearInterval(sampler);
  const wallSeconds = (performance.now() - started) / 1000;
  if (!gnu) {
    return { code, stdout, cpuSeconds: round(sampled?.cpuSeconds ?? NaN, 2), peakMB: round(sampledPeak, 1), wallSeconds };
  }
  const text = existsSync(report) ? readFileSync(report, 'utf8') : '';
  const num = (label: string) => Number(new RegExp(`${label}:\\s*([\\d.]+)`).exec(text)?.[1] ?? NaN);
  // GNU time reports ru_maxrss in kbytes.
  return {
    code,
    stdout,
    cpuSeconds: round(num('User time \\(seconds\\)') + num('System time \\(seconds\\)'), 2),
    peakMB: round(num('Maximum resident set size \\(kbytes\\)') / 1024, 1),
    wallSeconds,
  };
}
