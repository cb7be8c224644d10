/** What the activities need from the worker process: its curators, cache directory, provider clients and database. */
import { ApplicationFailure } from '@temporalio/activity';
import type { Curator } from '../curator';
import { LimiterPool } from '../limits';
import { ProviderPool } from '../providers';
import { CuratorRegistry, UnknownCuratorError } from '../registry';
import { CacheLayout, defaultCacheDir } from '../storage/cache-dir';
import { MetadataDb } from '../storage/metadata-db';

export interface ActivityDepsOptions {
  /** The curators this worker can run. */
  curators: CuratorRegistry | Iterable<Curator<any, any, any>>;
  /** Cache root (default `CURATOR_CACHE_DIR`, else `~/.cache/temporal-curator`). */
  cacheDir?: string;
  /** Where API keys and base URLs are read from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

export class ActivityDeps {
  readonly registry: CuratorRegistry;
  readonly cache: CacheLayout;
  readonly providers: ProviderPool;
  readonly limiters: LimiterPool;
  private db?: MetadataDb;

  constructor(options: ActivityDepsOptions) {
    this.registry =
      options.curators instanceof CuratorRegistry ? options.curators : new CuratorRegistry(options.curators);
    this.cache = new CacheLayout(options.cacheDir ?? defaultCacheDir());
    this.providers = new ProviderPool(options.env ?? process.env);
    this.limiters = new LimiterPool(this.cache.limitsDb);
  }

  /** Opened on first use, so a worker that never finishes a job never creates the file. */
  get metadata(): MetadataDb {
    this.db ??= new MetadataDb(this.cache.metadataDb);
    return this.db;
  }

  /** The named curator, or a non-retryable failure: retrying cannot make an unknown name known. */
  curator(name: string): Curator {
    try {
      return this.registry.get(name);
    } catch (err) {
      if (err instanceof UnknownCuratorError) {
        throw ApplicationFailure.create({ type: 'UnknownCurator', message: err.message, nonRetryable: true });
      }
      throw err;
    }
  }

  close(): void {
    this.db?.close();
    this.limiters.close();
  }
}
