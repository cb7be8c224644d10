/**
 * What most integration tests stand on: a real Temporal dev server, the simulator, a fresh cache directory and one
 * running worker pointed at the simulator, torn down in reverse order.
 */
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createWorker, type Curator } from '../../src';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator';
import { startTemporal, tempDir } from './temporal';

export interface TestStackParts {
  env: TestWorkflowEnvironment;
  sim: Simulator;
  cacheDir: string;
  /** Keys and base URLs that send both providers' requests to the simulator, for the worker's `env`. */
  providerEnv: NodeJS.ProcessEnv;
}

export interface TestStack extends TestStackParts {
  client: Client;
  worker: Worker;
  /** Shuts the worker down and starts a new one, as a deploy would; `whileStopped` runs with no worker up. */
  restartWorker(whileStopped?: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export interface TestStackOptions {
  /** Names the cache directory. */
  name: string;
  /** Extra arguments for `temporal server start-dev`. */
  serverArgs?: string[];
  simulator?: SimulatorOptions;
  /** Builds the worker: `createWorker`, or an example's own worker factory. */
  worker(parts: TestStackParts): Promise<Worker>;
}

export async function startTestStack(options: TestStackOptions): Promise<TestStack> {
  const env = await startTemporal(options.serverArgs);
  const sim = await startSimulator(options.simulator);
  const parts: TestStackParts = {
    env,
    sim,
    cacheDir: tempDir(options.name),
    providerEnv: {
      OPENAI_API_KEY: 'sk-test-openai',
      OPENAI_BASE_URL: sim.openaiBaseURL,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      ANTHROPIC_BASE_URL: sim.anthropicBaseURL,
    },
  };
  let worker = await options.worker(parts);
  let running = worker.run();
  return {
    ...parts,
    client: env.client,
    get worker() {
      return worker;
    },
    async restartWorker(whileStopped) {
      worker.shutdown();
      await running;
      await whileStopped?.();
      worker = await options.worker(parts);
      running = worker.run();
    },
    async close() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await sim.close();
      await env.teardown();
    },
  };
}

/** The usual stack: one worker running `curators` on `taskQueue`, its providers pointed at the simulator. */
export function startCuratorStack(
  name: string,
  taskQueue: string,
  curators: Curator<any, any, any>[]
): Promise<TestStack> {
  return startTestStack({
    name,
    worker: ({ env, cacheDir, providerEnv }) =>
      createWorker({ connection: env.nativeConnection, taskQueue, cacheDir, curators, env: providerEnv }),
  });
}
