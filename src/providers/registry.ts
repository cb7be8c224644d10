/**
 * The providers curators can name, by name: OpenAI and Anthropic built in, others added with
 * {@link registerProvider}. The one place that maps a curator's `provider` to its module.
 */
import { InvalidOptionsError } from '../errors';
import { anthropic } from './anthropic';
import { openai } from './openai';
import type { ProviderModule } from './provider';

const providers = new Map<string, ProviderModule>([
  [openai.name, openai],
  [anthropic.name, anthropic],
]);

/**
 * Adds a provider curators can name in `provider`, or replaces the one of that name. Call it in the module that
 * defines the curators, so the worker and the client both know it.
 */
export function registerProvider(provider: ProviderModule): void {
  providers.set(provider.name, provider);
}

/** The names curators can use, in the order they were registered. */
export function providerNames(): string[] {
  return [...providers.keys()];
}

/** Whether a provider of this name is registered. */
export function isProviderName(name: unknown): name is string {
  return typeof name === 'string' && providers.has(name);
}

/** The provider a curator names; an unknown name is an error of the curator's options. */
export function providerNamed(name: string): ProviderModule {
  const provider = providers.get(name);
  if (!provider) {
    throw new InvalidOptionsError(
      `unknown provider '${name}': registered are ${providerNames()
        .map((n) => `'${n}'`)
        .join(', ')} (add yours with registerProvider)`
    );
  }
  return provider;
}
