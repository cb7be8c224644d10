/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and lists the top frames by self time and by inclusive time, grouped
 * by function and location, so a benchmark can name its bottleneck in text.
 *
 *   npx tsx bench/lib/cpuprofile.ts bench/profiles/CPU.*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface FrameFigure {
  frame: string;
  selfMs: number;
  selfShare: number;
  totalMs: number;
  totalShare: number;
}

const ROOT = process.cwd();

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '')}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

export function summarizeProfile(path: string, top = 20): { totalMs: number; self: FrameFigure[]; inclusive: FrameFigure[] } {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time per node from the samples (more exact than hitCount × interval).
  const selfTime = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let k = 0; k < samples.length; k++) {
    const dt = (deltas[k + 1] ?? 0) / 1000;
    selfTime.set(samples[k]!, (selfTime.get(samples[k]!) ?? 0) + dt);
  }
  const totalMs = [...selfTime.values()].reduce((a, b) => a + b, 0);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, ms] of selfTime) {
    const node = byId.get(id)!;
    self.set(label(node), (self.get(label(node)) ?? 0) + ms);
    // Each distinct frame on the stack gets the sample once (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + ms);
    }
  }
  const figures = (m: Map<string, number>, key: 'self' | 'total'): FrameFigure[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, ms]) => ({
        frame,
        selfMs: Math.round(key === 'self' ? ms : (self.get(frame) ?? 0)),
        selfShare: Math.round(((key === 'self' ? ms : (self.get(frame) ?? 0)) / totalMs) * 1000) / 10,
        totalMs: Math.round(key === 'total' ? ms : (inclusive.get(frame) ?? 0)),
        totalShare: Math.round(((key === 'total' ? ms : (inclusive.get(frame) ?? 0)) / totalMs) * 1000) / 10,
      }));
  return { totalMs: Math.round(totalMs), self: figures(self, 'self'), inclusive: figures(inclusive, 'total') };
}

export function formatProfile(summary: ReturnType<typeof summarizeProfile>): string {
  const lines = [`profile: ${summary.totalMs} ms sampled`, '', 'top self time:'];
  for (const f of summary.self) lines.push(`  ${String(f.selfShare).padStart(5)}%  ${String(f.selfMs).padStart(7)} ms  ${f.frame}`);
  lines.push('', 'top inclusive time:');
  for (const f of summary.inclusive)
    lines.push(`  ${String(f.totalShare).padStart(5)}%  ${String(f.totalMs).padStart(7)} ms  ${f.frame}`);
  return lines.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const files = args.filter((_, i) => topAt < 0 || (i !== topAt && i !== topAt + 1));
  for (const file of files) console.log(`${file}\n${formatProfile(summarizeProfile(file, top))}\n`);
}
