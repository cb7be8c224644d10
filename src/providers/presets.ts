/**
 * Presets for OpenAI-compatible servers: data only, turned into provider modules by `openaiCompatible` (OpenAI's
 * client and body) and registered under their names, so a curator says `provider: 'groq'`. Each fact cites where it
 * comes from; "unsure" marks what no source at hand confirmed (check the provider's docs before relying on it).
 */
import type { RateLimitHeaderDialect } from './header-dialects';

/**
 * How a response schema is asked for: `'json_schema'` (OpenAI's `response_format` of type `json_schema`) or
 * `'json_object'` (JSON mode, with the schema told in a system message), for servers that only have JSON mode.
 */
export type StructuredOutputMethod = 'json_schema' | 'json_object';

/** An OpenAI-compatible server, as data. Every field can be overridden (see `providerPreset`). */
export interface ProviderPreset {
  /** The name a curator gives as `provider`. */
  name: string;
  /** Where requests go when neither the curator (`backend.baseURL`) nor `baseURLEnv` says. */
  defaultBaseURL: string;
  /** The worker's environment variable that holds the API key (local servers: any value when they check none). */
  apiKeyEnv: string;
  /** The worker's environment variable that may hold the base URL. */
  baseURLEnv: string;
  /** How the server reports rate limits; `'none'`: concurrency adapts to latency and 429s alone. */
  rateLimitHeaders: RateLimitHeaderDialect;
  /** How a response schema is asked for. */
  structuredOutput: StructuredOutputMethod;
}

/** The presets, in the order their names are listed. */
export const PROVIDER_PRESETS: readonly ProviderPreset[] = [
  {
    // ai.google.dev/gemini-api/docs/openai. Rate-limit headers: none documented for this endpoint (unsure).
    name: 'gemini',
    defaultBaseURL: 'https://generativelanguage.googleapis.com/v1beta/openai',
    apiKeyEnv: 'GEMINI_API_KEY',
    baseURLEnv: 'GEMINI_BASE_URL',
    rateLimitHeaders: 'none',
    structuredOutput: 'json_schema',
  },
  {
    // api-docs.deepseek.com: no rate limit is set per user, so no headers; JSON Output is `json_object` only, and the
    // prompt must mention JSON (the system message does).
    name: 'deepseek',
    defaultBaseURL: 'https://api.deepseek.com/v1',
    apiKeyEnv: 'DEEPSEEK_API_KEY',
    baseURLEnv: 'DEEPSEEK_BASE_URL',
    rateLimitHeaders: 'none',
    structuredOutput: 'json_object',
  },
  {
    // docs.together.ai: per-second limits in `x-ratelimit-*` and `x-tokenlimit-*` (header names from third-party
    // notes, unsure); `json_schema` in OpenAI's form (their docs also show a top-level `schema`, unsure which wins).
    name: 'together',
    defaultBaseURL: 'https://api.together.xyz/v1',
    apiKeyEnv: 'TOGETHER_API_KEY',
    baseURLEnv: 'TOGETHER_BASE_URL',
    rateLimitHeaders: 'together',
    structuredOutput: 'json_schema',
  },
  {
    // console.groq.com/docs/rate-limits: `x-ratelimit-limit-requests` is per day, tokens per minute. JSON mode works
    // on every model, `json_schema` on some only (console.groq.com/docs/structured-outputs).
    name: 'groq',
    defaultBaseURL: 'https://api.groq.com/openai/v1',
    apiKeyEnv: 'GROQ_API_KEY',
    baseURLEnv: 'GROQ_BASE_URL',
    rateLimitHeaders: 'groq',
    structuredOutput: 'json_object',
  },
  {
    // openrouter.ai/docs: limits follow credits, no per-response rate-limit headers documented (unsure);
    // structured outputs for the models that support them.
    name: 'openrouter',
    defaultBaseURL: 'https://openrouter.ai/api/v1',
    apiKeyEnv: 'OPENROUTER_API_KEY',
    baseURLEnv: 'OPENROUTER_BASE_URL',
    rateLimitHeaders: 'none',
    structuredOutput: 'json_schema',
  },
  {
    // docs.vllm.ai, OpenAI-compatible server: `vllm serve` on port 8000, a key only with `--api-key`; guided
    // decoding takes `json_schema`.
    name: 'vllm',
    defaultBaseURL: 'http://localhost:8000/v1',
    apiKeyEnv: 'VLLM_API_KEY',
    baseURLEnv: 'VLLM_BASE_URL',
    rateLimitHeaders: 'none',
    structuredOutput: 'json_schema',
  },
  {
    // github.com/ollama/ollama docs/openai.md: port 11434, the key is required by clients but ignored;
    // `response_format` with `json_schema` (since 0.5, unsure for older servers).
    name: 'ollama',
    defaultBaseURL: 'http://localhost:11434/v1',
    apiKeyEnv: 'OLLAMA_API_KEY',
    baseURLEnv: 'OLLAMA_BASE_URL',
    rateLimitHeaders: 'none',
    structuredOutput: 'json_schema',
  },
  {
    // llama.cpp tools/server README: `llama-server` on port 8080, a key only with `--api-key`; `response_format`
    // takes a JSON schema.
    name: 'llama.cpp',
    defaultBaseURL: 'http://localhost:8080/v1',
    apiKeyEnv: 'LLAMACPP_API_KEY',
    baseURLEnv: 'LLAMACPP_BASE_URL',
    rateLimitHeaders: 'none',
    structuredOutput: 'json_schema',
  },
];
