/**
 * The other two contenders: Bespoke Curator (Python, installed into bench/.venv-curator, pinned) and the bare
 * `openai` SDK loop. Each runs as a process of its own, under `/usr/bin/time -v`, against the shared simulator.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timedCommand } from './proc-stats';

const BENCH = join(__dirname, '..');
export const CURATOR_VERSION = process.env.BENCH_CURATOR_VERSION ?? '0.1.31';
const VENV = join(BENCH, '.venv-curator');
const PYTHON = join(VENV, 'bin', 'python');

function pythonForVenv(): string {
  for (const candidate of ['python3.11', 'python3']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next
    }
  }
  throw new Error('no python3 on PATH: the Curator contender needs Python 3.10+');
}

function installedCuratorVersion(): string | undefined {
  if (!existsSync(PYTHON)) return undefined;
  try {
    return execFileSync(PYTHON, ['-c', 'import importlib.metadata as m; print(m.version("bespokelabs-curator"))'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return undefined;
  }
}

/** Creates the ignored venv and installs the pinned Curator into it, once. */
export function ensureCuratorVenv(): string {
  const have = installedCuratorVersion();
  if (have === CURATOR_VERSION) return PYTHON;
  console.error(`installing bespokelabs-curator==${CURATOR_VERSION} into ${VENV} (once; a few minutes)…`);
  if (!existsSync(PYTHON)) execFileSync(pythonForVenv(), ['-m', 'venv', VENV], { stdio: 'inherit' });
  execFileSync(PYTHON, ['-m', 'pip', 'install', '-q', `bespokelabs-curator==${CURATOR_VERSION}`], {
    stdio: 'inherit',
  });
  const now = installedCuratorVersion();
  if (now !== CURATOR_VERSION) throw new Error(`bespokelabs-curator ${CURATOR_VERSION} did not install (have ${now})`);
  return PYTHON;
}

/** litellm ships tiktoken's cl100k_base file; without pointing tiktoken at it, Curator tries to download it. */
function tiktokenCacheDir(): string | undefined {
  try {
    const dir = execFileSync(
      PYTHON,
      ['-c', 'import importlib.util, os; s = importlib.util.find_spec("litellm"); print(os.path.dirname(s.origin))'],
      { encoding: 'utf8' }
    ).trim();
    const tokenizers = join(dir, 'litellm_core_utils', 'tokenizers');
    return existsSync(tokenizers) ? tokenizers : undefined;
  } catch {
    return undefined;
  }
}

export interface ContenderRun {
  wallSeconds: number;
  requestsPerSecond: number;
  cpuSeconds: number;
  peakMB: number;
  /** Wall time of the whole process, start-up included. */
  processSeconds: number;
  extra: Record<string, unknown>;
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON result on stdout:\n${stdout.slice(-2000)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

/** A contender's figures: its own timing from the JSON line it printed last, the OS accounting of its process. */
function contenderRun(
  run: { stdout: string; cpuSeconds: number; peakMB: number; wallSeconds: number },
  extraKeys: string[]
): ContenderRun {
  const result = lastJsonLine(run.stdout);
  return {
    wallSeconds: result.wallSeconds as number,
    requestsPerSecond: result.requestsPerSecond as number,
    cpuSeconds: run.cpuSeconds,
    peakMB: run.peakMB,
    processSeconds: run.wallSeconds,
    extra: Object.fromEntries(extraKeys.map((k) => [k, result[k]])),
  };
}

let tiktokenDir: string | undefined | null = null;

export async function runCurator(options: {
  rows: number;
  concurrency: number;
  openaiBaseURL: string;
  /** Curator's Anthropic backend against this root URL (the simulator's), with `model`, instead of its OpenAI one. */
  anthropic?: { baseURL: string; model: string };
  /** Curator's own defaults for every backend parameter but the base URL (`concurrency` is then ignored). */
  defaults?: boolean;
  /** Stop the curation after this long (it then reports `timedOut`). */
  maxSeconds?: number;
}): Promise<ContenderRun> {
  const python = ensureCuratorVenv();
  if (tiktokenDir === null) tiktokenDir = tiktokenCacheDir();
  const work = mkdtempSync(join(tmpdir(), 'bench-curator-'));
  const logPath = join(work, 'curator.log');
  const log = openSync(logPath, 'w');
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OPENAI_API_KEY: 'sk-sim',
      ANTHROPIC_API_KEY: 'sk-ant-sim',
      TELEMETRY_ENABLED: 'false',
      CURATOR_DISABLE_RICH_DISPLAY: '1',
      CURATOR_VIEWER: '0',
      HOSTED_CURATOR_VIEWER: '0',
      CURATOR_CACHE_DIR: join(work, 'cache'),
      // No network here: litellm's bundled model map, tiktoken's bundled encoding, no HF hub calls.
      LITELLM_LOCAL_MODEL_COST_MAP: 'True',
      HF_HUB_OFFLINE: '1',
      HF_DATASETS_OFFLINE: '1',
      PYTHONUNBUFFERED: '1',
    };
    if (tiktokenDir) env.TIKTOKEN_CACHE_DIR = tiktokenDir;
    delete env.OPENAI_BASE_URL;
    delete env.ANTHROPIC_BASE_URL;
    const run = await timedCommand(
      python,
      [
        join(BENCH, 'curator_bench.py'),
        '--rows',
        String(options.rows),
        '--concurrency',
        String(options.concurrency),
        '--base-url',
        options.anthropic ? `${options.anthropic.baseURL.replace(/\/$/, '')}/v1` : options.openaiBaseURL,
        ...(options.anthropic ? ['--backend', 'anthropic', '--model', options.anthropic.model] : []),
        ...(options.defaults ? ['--defaults'] : []),
        ...(options.maxSeconds ? ['--max-seconds', String(options.maxSeconds)] : []),
      ],
      { env, cwd: work, stderr: log }
    );
    if (run.code !== 0) {
      const tail = readFileSync(logPath, 'utf8').split(/[\r\n]/).filter(Boolean).slice(-30).join('\n');
      throw new Error(`Curator exited with ${run.code}; its log ends with:\n${tail}`);
    }
    return contenderRun(run, ['curatorVersion', 'outputRows', 'importSeconds', 'constructSeconds', 'timedOut']);
  } finally {
    closeSync(log);
    rmSync(work, { recursive: true, force: true });
  }
}

export async function runBareLoop(options: {
  rows: number;
  concurrency: number;
  openaiBaseURL: string;
  /** `node`: the engine's own HTTP path under the SDK instead of the global `fetch`. */
  fetch?: 'global' | 'node';
}): Promise<ContenderRun> {
  const run = await timedCommand(
    process.execPath,
    [
      '--import',
      'tsx',
      join(__dirname, 'bare-loop.ts'),
      '--rows',
      String(options.rows),
      '--concurrency',
      String(options.concurrency),
      '--base-url',
      options.openaiBaseURL,
      '--fetch',
      options.fetch ?? 'global',
    ],
    { env: { ...process.env, OPENAI_API_KEY: 'sk-sim' }, cwd: join(BENCH, '..') }
  );
  if (run.code !== 0) throw new Error(`the bare loop exited with ${run.code}`);
  return contenderRun(run, ['succeeded', 'errors']);
}
