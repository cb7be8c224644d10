/**
 * A Temporal worker plugin that adds curation to a worker the user builds themselves: our activities beside theirs,
 * and our workflows when the worker has none of its own.
 *
 * @example
 * // my-workflows.ts: re-export ours so that curateWorkflow and partitionWorkflow are registered beside yours.
 * export * from 'temporal-curator/workflow';
 * export async function myPipeline() { ... executeChild(curateWorkflow, ...) ... }
 *
 * // my-worker.ts
 * import { Worker } from '@temporalio/worker';
 * import { CuratorPlugin } from 'temporal-curator';
 * const worker = await Worker.create({
 *   connection,
 *   taskQueue: 'my-app',
 *   workflowsPath: require.resolve('./my-workflows'),
 *   activities: myActivities,
 *   plugins: [new CuratorPlugin({ curators: [poems, reviews] })],
 * });
 * await worker.run();
 */
import { SimplePlugin } from '@temporalio/plugin';
import type { BundleOptions, ReplayWorkerOptions, WorkerOptions } from '@temporalio/worker';
import { createActivities, type CuratorActivities } from './activities';
import type { Curator } from './curator';
import { workflowsPath as curatorWorkflowsPath } from './worker';

/** What {@link CuratorPlugin} needs: the curators, the cache directory and the environment. */
export interface CuratorPluginOptions {
  /** The curators this worker can run, by name. */
  curators: Iterable<Curator<any, any, any>>;
  /**
   * The cache root: responses, datasets and the job index.
   * @defaultValue `CURATOR_CACHE_DIR`, else `$XDG_CACHE_HOME/temporal-curator`, else `~/.cache/temporal-curator`
   */
  cacheDir?: string;
  /**
   * Where API keys and base URLs are read from.
   * @defaultValue `process.env`
   */
  env?: NodeJS.ProcessEnv;
}

/** The plugin's name, as Temporal reports it. */
export const CURATOR_PLUGIN_NAME = 'temporal-curator';

/** What users' workflow code imports this package's workflows as. */
const WORKFLOW_ENTRY = 'temporal-curator/workflow';

/** The same throttle as `createWorker`: a cancelled job stops sending new requests within about a second. */
const HEARTBEAT_THROTTLE = '1 second';

/**
 * Registers the curation activities (`plan`, `processBatch`, `finalize`) on any worker it is given to, keeping the
 * worker's own activities.
 *
 * Workflows: a worker without `workflowsPath` gets ours (`curateWorkflow`, `partitionWorkflow`). A worker with its
 * own `workflowsPath` keeps it, and that file must re-export ours (`export * from 'temporal-curator/workflow'`):
 * the curation job runs its partitions as child workflows on the same task queue, so both must be registered
 * there. A worker with a prebuilt `workflowBundle` is left alone; bundle a file that re-exports ours.
 *
 * The bundler resolves `temporal-curator/workflow` in the user's workflows to this copy of the package, the one whose
 * activities the plugin registers (in a checkout of this repository, to its sources).
 *
 * It also sets `maxHeartbeatThrottleInterval` to 1 second unless the worker sets its own: batch activities learn of
 * a cancellation through their heartbeats, which are otherwise throttled to up to a minute.
 *
 * The activities read rows and write datasets under `cacheDir`, so every worker and client of one deployment must
 * share it, as with `createWorker`.
 *
 * @example
 * const worker = await Worker.create({
 *   connection,
 *   taskQueue: 'my-app',
 *   workflowsPath: require.resolve('./my-workflows'), // which has `export * from 'temporal-curator/workflow'`
 *   plugins: [new CuratorPlugin({ curators: [poems], cacheDir: '/data/curator' })],
 * });
 */
export class CuratorPlugin extends SimplePlugin {
  /** The activities this plugin registers, built once: every worker it configures shares their clients and limits. */
  readonly activities: CuratorActivities;

  constructor(options: CuratorPluginOptions) {
    // Built here rather than on first use, so a bad curator list (a duplicate name) fails where the plugin is made.
    const activities = createActivities({ curators: options.curators, cacheDir: options.cacheDir, env: options.env });
    super({
      name: CURATOR_PLUGIN_NAME,
      activities: (existing) => mergeActivities(existing, activities),
      // Used as is by bundleWorkflowCode; configureWorker below also leaves a prebuilt workflowBundle alone.
      workflowsPath: (existing) => existing ?? curatorWorkflowsPath,
    });
    this.activities = activities;
  }

  override configureWorker(options: WorkerOptions): WorkerOptions {
    return {
      ...super.configureWorker(options),
      workflowsPath: chooseWorkflowsPath(options),
      maxHeartbeatThrottleInterval: options.maxHeartbeatThrottleInterval ?? HEARTBEAT_THROTTLE,
    };
  }

  override configureBundler(options: BundleOptions): BundleOptions {
    const configured = super.configureBundler(options);
    const theirs = configured.webpackConfigHook;
    return {
      ...configured,
      webpackConfigHook: (config) => {
        const hooked = theirs ? theirs(config) : config;
        const resolve = (hooked.resolve ??= {});
        const alias = resolve.alias;
        // The user's own alias of the name wins; an array form of `alias` is left alone.
        if (!Array.isArray(alias) && !alias?.[`${WORKFLOW_ENTRY}$`]) {
          resolve.alias = { ...alias, [`${WORKFLOW_ENTRY}$`]: require.resolve('./workflow') };
        }
        return hooked;
      },
    };
  }

  override configureReplayWorker(options: ReplayWorkerOptions): ReplayWorkerOptions {
    return { ...super.configureReplayWorker(options), workflowsPath: chooseWorkflowsPath(options) };
  }
}

/**
 * The user's `workflowsPath`, else ours, except beside a prebuilt `workflowBundle`: the worker would only warn that
 * it ignores the path, and the bundle is what runs.
 */
function chooseWorkflowsPath(options: Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'>): string | undefined {
  if (options.workflowsPath !== undefined) return options.workflowsPath;
  return options.workflowBundle === undefined ? curatorWorkflowsPath : undefined;
}

/**
 * The worker's activities plus ours. A different activity of the worker under one of our names would be silently
 * replaced and break either its workflows or ours, so that is an error.
 */
function mergeActivities(existing: object | undefined, ours: CuratorActivities): object {
  const theirs = (existing ?? {}) as Record<string, unknown>;
  for (const [name, fn] of Object.entries(ours)) {
    if (name in theirs && theirs[name] !== fn) {
      throw new TypeError(
        `CuratorPlugin: the worker already has an activity named '${name}', which temporal-curator registers too. ` +
          'Rename that activity, or run it on another task queue.'
      );
    }
  }
  return { ...theirs, ...ours };
}
