/** The benchmark's side of the simulator process (sim-process.ts). */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { SimulatorOptions } from '../../src/simulator';
import type { SimLoad, SimSummary } from './sim-process';

export type { SimLoad, SimSummary };

export interface SimHandle {
  url: string;
  openaiBaseURL: string;
  pid: number;
  summary(): Promise<SimSummary>;
  /** Refusals by kind, in-flight maxima and admitted requests per second since the last reset. */
  load(): Promise<SimLoad>;
  reset(): Promise<void>;
  /** Arrival time (epoch ms) of the first completion request after `at`, or null. */
  firstAfter(at: number): Promise<number | null>;
  countAfter(at: number): Promise<number>;
  close(): Promise<void>;
}

export async function startSimProcess(options: SimulatorOptions): Promise<SimHandle> {
  const child: ChildProcess = fork(join(__dirname, 'sim-process.ts'), [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (result: unknown) => void>();
  let nextId = 1;
  const ready = new Promise<{ url: string; openaiBaseURL: string }>((resolve, reject) => {
    pending.set(0, (r) => resolve(r as { url: string; openaiBaseURL: string }));
    child.once('exit', (code) => reject(new Error(`simulator process exited with ${code}`)));
  });
  child.on('message', (m: { id: number; result: unknown }) => {
    const resolve = pending.get(m.id);
    pending.delete(m.id);
    resolve?.(m.result);
  });
  const call = <T>(message: Record<string, unknown>): Promise<T> =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, (r) => resolve(r as T));
      child.send({ ...message, id });
    });
  const { url, openaiBaseURL } = await ready;
  return {
    url,
    openaiBaseURL,
    pid: child.pid!,
    summary: () => call<SimSummary>({ cmd: 'summary' }),
    load: () => call<SimLoad>({ cmd: 'load' }),
    reset: async () => void (await call<boolean>({ cmd: 'reset' })),
    firstAfter: (at) => call<number | null>({ cmd: 'firstAfter', at }),
    countAfter: (at) => call<number>({ cmd: 'countAfter', at }),
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ cmd: 'close', id: nextId++ });
      await exited;
    },
  };
}
