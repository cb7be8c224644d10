/** What the activities need from the worker process: its curators, cache directory, provider clients and database. */
import type { Curator } from '../curator';
import { LimiterPool, openLimitWindow } from '../limits';
import { ProviderPool, providerOf } from '../providers';
import { apiKeyIdFor } from '../providers/key-id';
import { WaitingRequests } from '../providers/waiting-requests';
import { CuratorRegistry } from '../registry';
import { CuratorChangedError, WrongApiKeyError, WrongWorkerError } from '../errors';
import { CacheLayout, defaultCacheDir } from '../storage/cache-dir';
import { readInputIndex, repairInput } from '../storage/dataset';
import { exists } from '../storage/jsonl';
import { parseFingerprint, runFingerprint } from '../requests/fingerprint';
import { openDataPlane, type DataPlane } from '../storage/data-plane';
import { RunArtifacts } from '../storage/run-artifacts';
import { probesOff } from '../requests/admit';

/** What the activities are built from: the curators, the cache directory and the environment. */
export interface ActivityDepsOptions {
  /** The curators this worker can run. */
  curators: CuratorRegistry | Iterable<Curator<any, any, any>>;
  /**
   * The cache root: responses, datasets and the job index.
   * @defaultValue `CURATOR_CACHE_DIR`, else `$XDG_CACHE_HOME/temporal-curator`, else `~/.cache/temporal-curator`
   */
  cacheDir?: string;
  /**
   * Where API keys and base URLs are read from. The data plane (`CURATOR_STORAGE`, `CURATOR_DATABASE_URL` and the
   * `AWS_*` variables: see docs/storage-backends.md) is chosen from these over `process.env`.
   * @defaultValue `process.env`
   */
  env?: NodeJS.ProcessEnv;
  /** When aborted, batch activities take no new request, let those in flight finish and log them, then stop. */
  drain?: AbortSignal;
}

/**
 * What the activities of one worker process share: its curators, cache directory, provider clients, rate limiters
 * and job index. Pass one to {@link createActivities} to share it between workers in a process.
 */
export class ActivityDeps {
  /** The curators this worker runs, by name. */
  readonly registry: CuratorRegistry;
  /** Paths under the cache root. */
  readonly cache: CacheLayout;
  /** Provider clients, one per provider, key and base URL. */
  readonly providers: ProviderPool;
  /**
   * Rate limiters, one per provider account and endpoint, shared through the cache's `limits.db`, or through
   * PostgreSQL across machines when `CURATOR_DATABASE_URL` is set.
   */
  readonly limiters: LimiterPool;
  /** Requests in flight, reported under the cache for progress displays when they wait long. */
  private readonly waiting: WaitingRequests;
  /** Aborted when the worker is stopping: see {@link ActivityDepsOptions.drain}. */
  readonly drain: AbortSignal;
  /** Whether buckets may send a limits probe: not with `CURATOR_PROBE_LIMITS=off` (see `requests/admit.ts`). */
  readonly probeLimits: boolean;
  private readonly env: NodeJS.ProcessEnv;
  private plane?: Promise<{ plane: DataPlane; artifacts: RunArtifacts }>;
  /** Runs whose fingerprints this worker's curators were found to match: curators never change in a process. */
  private readonly matched = new Set<string>();
  /** Runs whose copy of the dataset this worker checked (and rebuilt if damaged), once per run. */
  private readonly checkedInputs = new Map<string, Promise<void>>();

  constructor(options: ActivityDepsOptions) {
    this.registry =
      options.curators instanceof CuratorRegistry ? options.curators : new CuratorRegistry(options.curators);
    this.cache = new CacheLayout(options.cacheDir ?? defaultCacheDir());
    this.waiting = new WaitingRequests(this.cache.root);
    this.providers = new ProviderPool(options.env ?? process.env, this.waiting);
    this.drain = options.drain ?? new AbortController().signal;
    // The data plane's variables may come from the process when `env` names no storage of its own: a worker given
    // only provider keys still runs on the deployment's store and database.
    this.env = options.env ? { ...process.env, ...options.env } : process.env;
    const env = this.env;
    this.probeLimits = !probesOff(env);
    this.limiters = new LimiterPool(() => openLimitWindow(this.cache.limitsDb, env));
  }

  /**
   * The data plane (response logs, leases, run metadata, the object store) and the run artifacts on it, opened on
   * first use from the environment: the cache directory by default, or the object store and PostgreSQL.
   */
  storage(): Promise<{ plane: DataPlane; artifacts: RunArtifacts }> {
    this.plane ??= openDataPlane(this.cache.root, this.env).then(
      (plane) => ({ plane, artifacts: new RunArtifacts(this.cache, plane.objects, plane.remote) }),
      (err: unknown) => {
        this.plane = undefined;
        throw err;
      }
    );
    return this.plane;
  }

  /** The named curator, or an `UnknownCuratorError`: retrying cannot make an unknown name known. */
  curator(name: string): Curator {
    return this.registry.get(name);
  }

  /**
   * The named curator, checked against the run it is asked to work on: the run's fingerprints must be what this
   * worker's curator, environment (provider, base URL) and cache directory give. Otherwise the job was planned with
   * another definition (the prompt, model, schema, params or parse was edited since) or by a worker of another
   * project, and working on it would write answers of one definition into another's cache: a non-retryable failure.
   */
  async curatorForRun(name: string, runHash: string, parseHash: string): Promise<Curator> {
    const curator = this.curator(name);
    const key = `${runHash}/${parseHash}`;
    if (this.matched.has(key)) return curator;
    let datasetHash: string | undefined;
    let media: string | undefined;
    const run = this.cache.run(runHash);
    // A run planned on another machine, or before this disk was wiped: its copy of the dataset is in the store.
    const { artifacts } = await this.storage();
    if (artifacts.remote) await this.checkInput(runHash).catch(() => undefined);
    try {
      ({ datasetHash, media } = await readInputIndex(run));
    } catch {
      // Present but unreadable is damage (rebuilt or reported by checkInput), not another project's job.
      if (await exists(run.inputIndex)) {
        await this.checkInput(runHash);
        ({ datasetHash, media } = await readInputIndex(run));
      }
    }
    if (datasetHash === undefined) {
      throw new WrongWorkerError(
        `run ${runHash} of curator '${name}' is not in this worker's cache directory ${this.cache.root}: the job ` +
          'was planned by a worker of another project (another cache directory) on the same task queue. Run it ' +
          'with its own worker, on a task queue of its own.'
      );
    }
    if (
      runFingerprint(curator, datasetHash, this.providers.env, media) !== runHash ||
      parseFingerprint(curator) !== parseHash
    ) {
      throw new CuratorChangedError(
        `curator '${name}' on this worker no longer matches the job's run ${runHash}: its prompt, system prompt, ` +
          'model, schema, params, parse, provider or base URL changed since the job was planned. This job stops ' +
          'without writing into that cache; start the job again (the same `curator run` command, or `curate()`) ' +
          'to run the new definition as a new job.'
      );
    }
    this.matched.add(key);
    return curator;
  }

  /**
   * Refuses a job whose starter holds another provider key than this worker (by their short salted names, see
   * `apiKeyId`): the job would run, and be billed, on a key its user did not give it. Non-retryable, before any
   * request. A job started without a key name (a client that holds no key) is not checked; a worker without a key
   * fails with `MissingApiKey` where it needs one.
   */
  checkApiKey(curatorName: string, apiKeyId: string | undefined): void {
    if (apiKeyId === undefined) return;
    const curator = this.curator(curatorName);
    const own = apiKeyIdFor(curator, this.providers.env);
    if (own === undefined || own === apiKeyId) return;
    const name = providerOf(curator).apiKeyEnv;
    throw new WrongApiKeyError(
      `the job of curator '${curatorName}' was started with another ${name} (key id ${apiKeyId}) than this ` +
        `worker's (key id ${own}, cache ${this.cache.root}): it stops before sending anything rather than pay with ` +
        `a key its user did not give it. Set the same ${name} for the worker and the command that starts the job, ` +
        'or run each key on its own task queue.'
    );
  }

  /** Checks the run's copy of the dataset once per run in this worker, rebuilding it from its source if damaged. */
  async checkInput(runHash: string): Promise<void> {
    // The disk is only a cache with an object store: one wiped since the check is filled again from the store.
    if ((await this.storage()).artifacts.remote && !(await exists(this.cache.run(runHash).inputIndex))) {
      this.checkedInputs.delete(runHash);
    }
    let checked = this.checkedInputs.get(runHash);
    if (!checked) {
      checked = this.pullAndRepairInput(runHash).catch((err: unknown) => {
        this.checkedInputs.delete(runHash);
        throw err;
      });
      this.checkedInputs.set(runHash, checked);
    }
    return checked;
  }

  /** With an object store, the store's copy first (the disk is a cache); then checked, or rebuilt from its source. */
  private async pullAndRepairInput(runHash: string): Promise<void> {
    const { artifacts } = await this.storage();
    const run = this.cache.run(runHash);
    if (artifacts.remote && !(await artifacts.pullInput(run))) {
      throw new WrongWorkerError(
        `run ${runHash} is not in this worker's store ${artifacts.objects.location}: the job was planned by a ` +
          'worker of another project on the same task queue. Run it with its own worker, on a task queue of its own.'
      );
    }
    await repairInput(this.cache, run, artifacts.remote);
  }

  /** Closes the job index, the data plane, the limiters and the waiting-requests report. */
  close(): void {
    void this.plane?.then(({ plane }) => plane.close()).catch(() => undefined);
    this.limiters.close();
    this.waiting.close();
  }
}
