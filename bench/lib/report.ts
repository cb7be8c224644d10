/** What every benchmark scenario reports with: medians, number formats, Markdown tables, targets, the machine. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { findTemporalCli } from '../../src/temporal/cli-path';
import { CURATOR_VERSION } from './contenders';
import { round } from './proc-stats';

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function fmt(n: number | undefined, digits = 1): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    '| ' + r.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join(' | ') + ' |';
  return [
    line(headers),
    '|' + widths.map((w, c) => (c === 0 ? '-'.repeat(w + 1) + '-' : '-'.repeat(w + 1) + ':')).join('|') + '|',
    ...cells.slice(1).map(line),
  ].join('\n');
}

/** A two-column table in a box, for a run's figures: name left, value right. */
export function keyValueTable(rows: [string, string | number][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  const valueWidth = Math.max(...rows.map(([, v]) => String(v).length));
  const line = `+${'-'.repeat(width + 2)}+${'-'.repeat(valueWidth + 2)}+`;
  return [line, ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${String(v).padStart(valueWidth)} |`), line].join('\n');
}

/** Writes a run's report as JSON (bench/results/…), making its folder if needed. */
export function writeJsonReport(path: string, report: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
}

export interface Target {
  name: string;
  target: string;
  value: string;
  met: boolean | null;
}

export function targetTable(targets: Target[]): string {
  return table(
    ['target', 'wanted', 'measured', 'met'],
    targets.map((t) => [t.name, t.target, t.value, t.met === null ? 'n/a' : t.met ? 'yes' : 'NO'])
  );
}

/** The one-minute load average now. */
export function load(): number {
  return round(loadavg()[0]!, 2);
}

export function machine() {
  let free = '';
  try {
    free = execFileSync('free', ['-g'], { encoding: 'utf8' }).trim();
  } catch {
    free = `${Math.round(totalmem() / 2 ** 30)} GiB total`;
  }
  let temporal = '';
  try {
    temporal = execFileSync(findTemporalCli() ?? 'temporal', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    temporal = 'unknown';
  }
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model,
    free,
    node: process.version,
    kernel: release(),
    temporalCli: temporal,
    curator: `bespokelabs-curator ${CURATOR_VERSION}`,
    loadAtStart: loadavg().map((l) => round(l, 2)),
  };
}
