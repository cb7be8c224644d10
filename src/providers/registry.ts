/**
 * The providers curators can name, by name: OpenAI and Anthropic built in, others added with
 * {@link registerProvider}. The one place that maps a curator's `provider` to its module.
 */
import { InvalidOptionsError } from '../errors';
import { anthropic } from './anthropic';
import { openai, openaiCompatible } from './openai';
import { PROVIDER_PRESETS, type ProviderPreset } from './presets';
import type { ProviderModule } from './provider';

const providers = new Map<string, ProviderModule>([
  [openai.name, openai],
  [anthropic.name, anthropic],
  ...PROVIDER_PRESETS.map((preset): [string, ProviderModule] => [preset.name, openaiCompatible(preset)]),
]);

/**
 * The provider module of a preset for an OpenAI-compatible server, with any of its fields overridden; register it
 * (under the preset's name, or a `name` of your own) with {@link registerProvider}. A curator's `backend.baseURL`
 * and the preset's base URL variable override the address without this.
 *
 * @example
 * registerProvider(providerPreset('vllm', { name: 'vllm-gpu2', baseURLEnv: 'GPU2_URL', rateLimitHeaders: 'none' }));
 * @throws InvalidOptionsError for an unknown preset name, listing the known ones.
 */
export function providerPreset(name: string, overrides: Partial<ProviderPreset> = {}): ProviderModule {
  const preset = PROVIDER_PRESETS.find((p) => p.name === name);
  if (!preset) {
    throw new InvalidOptionsError(
      `unknown provider preset '${name}': the presets are ${PROVIDER_PRESETS.map((p) => `'${p.name}'`).join(', ')}`
    );
  }
  return openaiCompatible({ ...preset, ...overrides });
}

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
