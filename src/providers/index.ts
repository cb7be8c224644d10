/** Makes provider clients from the worker's environment: API keys never travel through workflows. */
import type { Curator } from '../curator';
import { resolveBaseURL } from '../storage/fingerprint';
import { AnthropicProvider } from './anthropic';
import { providerFetch } from './http-transport';
import { OpenAIProvider } from './openai';
import type { ProviderClient } from './types';
import type { WaitingRequests } from './waiting-requests';
import { rateBucket } from '../limits/bucket';
import { MissingApiKeyError } from '../errors';

/** Where to find a provider's key: the worker's environment, never a workflow input. */
export const API_KEY_ENV = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY' } as const;

export function apiKeyFor(curator: Curator, env: NodeJS.ProcessEnv = process.env): string {
  const name = API_KEY_ENV[curator.provider];
  const key = env[name];
  if (!key) {
    throw new MissingApiKeyError(
      `curator '${curator.name}' uses ${curator.provider} but ${name} is not set in the worker's environment`
    );
  }
  return key;
}

/** One client per provider, key and base URL, shared by all activities of the worker. */
export class ProviderPool {
  private readonly clients = new Map<string, ProviderClient>();
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
    let client = this.clients.get(id);
    if (!client) {
      client =
        curator.provider === 'anthropic'
          ? new AnthropicProvider(baseURL, apiKey, this.fetch)
          : new OpenAIProvider(baseURL, apiKey, this.fetch);
      this.clients.set(id, client);
    }
    if (!this.waiting) return client;
    // Tracked per rate bucket (the model too), which is how progress displays name what they show.
    const bucket = rateBucket(curator, baseURL);
    let tracked = this.tracked.get(`${id} ${curator.model}`);
    if (!tracked) this.tracked.set(`${id} ${curator.model}`, (tracked = this.waiting.track(bucket, client)));
    return tracked;
  }

  /** Removes every configured key from a text, so error messages and files never carry one. */
  redact(text: string): string {
    let out = text;
    for (const name of Object.values(API_KEY_ENV)) {
      const key = this.env[name];
      if (key && key.length >= 4) out = out.split(key).join('***');
    }
    return out;
  }
}
