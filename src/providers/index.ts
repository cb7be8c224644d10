/**
 * The providers' entry point for the rest of the engine: a curator's provider module, its base URL and key from the
 * worker's environment (API keys never travel through workflows), and one pool of clients, for calls and for batches.
 */
import type { Curator } from '../curator';
import { DEFAULT_BATCH_COMPLETION_WINDOW } from '../defaults';
import { InvalidOptionsError, MissingApiKeyError } from '../errors';
import type { BatchLimits, ProviderBatchClient } from './batch';
import { providerFetch } from './http-transport';
import type { ProviderModule } from './provider';
import { providerNamed, providerNames } from './registry';
import type { ProviderClient } from './types';
import type { WaitingRequests } from './waiting-requests';
import { rateBucket } from '../limits/bucket';

export type { ProviderModule, ProviderBatchApi, ProviderClientOptions } from './provider';
export { isProviderName, providerNamed, providerNames, providerPreset, registerProvider } from './registry';

/** The provider module of a curator. */
export function providerOf(curator: Pick<Curator, 'provider'>): ProviderModule {
  return providerNamed(curator.provider);
}

/** The curator's API key from the worker's environment, never from a workflow input. */
export function apiKeyFor(curator: Curator, env: NodeJS.ProcessEnv = process.env): string {
  const name = providerOf(curator).apiKeyEnv;
  const key = env[name];
  if (!key) {
    throw new MissingApiKeyError(
      `curator '${curator.name}' uses ${curator.provider} but ${name} is not set in the worker's environment`
    );
  }
  return key;
}

/** The base URL a curator's requests go to: its setting, else the worker's environment, else the public API. */
export function resolveBaseURL(
  curator: Pick<Curator, 'provider' | 'backend'>,
  env: NodeJS.ProcessEnv = process.env
): string {
  const provider = providerOf(curator);
  return (curator.backend?.baseURL ?? env[provider.baseURLEnv] ?? provider.defaultBaseURL).replace(/\/+$/, '');
}

/** The batch limits in effect: the provider's, lowered (never raised) by the curator's settings. */
export function batchLimits(curator: Curator): BatchLimits {
  const base = batchApiOf(curator).limits;
  const b = curator.backend ?? {};
  return {
    requests: Math.max(1, Math.min(base.requests, b.batchMaxRequests ?? base.requests)),
    bytes: Math.max(1, Math.min(base.bytes, b.batchMaxBytes ?? base.bytes)),
  };
}

function batchApiOf(curator: Curator) {
  const api = providerOf(curator).batch;
  if (!api) throw new InvalidOptionsError(`curator '${curator.name}': provider ${curator.provider} has no batch API`);
  return api;
}

/**
 * One client per provider, key and base URL (and, for batches, limits and completion window), shared by all
 * activities of the worker.
 */
export class ProviderPool {
  private readonly clients = new Map<string, ProviderClient | ProviderBatchClient>();
  private readonly tracked = new Map<string, ProviderClient>();
  private readonly fetch: typeof globalThis.fetch | undefined;

  /** `waiting`, when given, learns of every call, so progress displays can show requests that wait long. */
  constructor(
    readonly env: NodeJS.ProcessEnv = process.env,
    private readonly waiting?: WaitingRequests
  ) {
    this.fetch = providerFetch(env);
  }

  get(curator: Curator): ProviderClient {
    const apiKey = apiKeyFor(curator, this.env);
    const baseURL = resolveBaseURL(curator, this.env);
    const id = `${curator.provider} ${baseURL} ${apiKey}`;
    let client = this.clients.get(id) as ProviderClient | undefined;
    if (!client) {
      client = providerOf(curator).createClient({ baseURL, apiKey, fetch: this.fetch });
      this.clients.set(id, client);
    }
    if (!this.waiting) return client;
    // Tracked per rate bucket (the model too), which is how progress displays name what they show.
    const bucket = rateBucket(curator, baseURL);
    let tracked = this.tracked.get(`${id} ${curator.model}`);
    if (!tracked) this.tracked.set(`${id} ${curator.model}`, (tracked = this.waiting.track(bucket, client)));
    return tracked;
  }

  /** The client of the curator's provider's Batch API. */
  batchClient(curator: Curator): ProviderBatchClient {
    const apiKey = apiKeyFor(curator, this.env);
    const baseURL = resolveBaseURL(curator, this.env);
    const limits = batchLimits(curator);
    const completionWindow = curator.backend?.batchCompletionWindow ?? DEFAULT_BATCH_COMPLETION_WINDOW;
    const id = JSON.stringify(['batch', curator.provider, baseURL, apiKey, limits, completionWindow]);
    let client = this.clients.get(id) as ProviderBatchClient | undefined;
    if (!client) {
      client = batchApiOf(curator).createClient({ baseURL, apiKey, limits, completionWindow });
      this.clients.set(id, client);
    }
    return client;
  }

  /** Removes every configured key from a text, so error messages and files never carry one. */
  redact(text: string): string {
    let out = text;
    for (const name of providerNames().map((n) => providerNamed(n).apiKeyEnv)) {
      const key = this.env[name];
      if (key && key.length >= 4) out = out.split(key).join('***');
    }
    return out;
  }
}
