/**
 * Run fingerprints. Same inputs, same fingerprint, same cache folder: that is what makes a rerun free.
 *
 * As in Curator, the fingerprint covers the dataset, the prompt function's source, the model, the response schema and
 * the generation params (the curator's, and where its per-row params come from), and batch mode when on; the tools,
 * the tool choice and `includeRawAnswer` when set; unlike
 * Curator it also covers the provider, its base URL and the system prompt, so answers from a different endpoint or
 * instruction are never served from cache, and the content of the local images and files the prompts read (hashed,
 * see `media-digest.ts`). `parse` is hashed separately: it names the output, not the run, so
 * changing it re-parses cached responses.
 */
import { requestParams, rowParamsIdentity, type Curator } from '../curator';
import { resolveBaseURL } from '../providers';
import { resolveResponseFormat } from '../schema';
import { requestTools } from './format';
import { sha256, stableStringify } from '../storage/fingerprint';

/**
 * Identifies the run: which requests are sent and so which responses can be reused. `media` is the digest of the
 * local files the prompts read, when they read any.
 */
export function runFingerprint(
  curator: Curator,
  datasetHash: string,
  env: NodeJS.ProcessEnv = process.env,
  media?: string
): string {
  const format = resolveResponseFormat(curator.responseFormat);
  const parts = {
    dataset: datasetHash,
    prompt: curator.prompt.toString(),
    systemPrompt: curator.systemPrompt ?? null,
    model: curator.model,
    responseFormat: format ? format.jsonSchema : 'text',
    generationParams: requestParams(curator),
    // Only when set, so the fingerprints of curators without per-row params stay what they were. A row's own
    // params come from the row, which the dataset hash covers.
    ...(curator.rowGenerationParams !== undefined ? { rowGenerationParams: rowParamsIdentity(curator) } : {}),
    // Only when set, so the fingerprints of curators without them stay what they were.
    ...(curator.tools !== undefined ? { tools: requestTools(curator) } : {}),
    ...(curator.toolChoice !== undefined ? { toolChoice: curator.toolChoice } : {}),
    ...(curator.includeRawAnswer === true ? { includeRawAnswer: true } : {}),
    provider: curator.provider,
    baseURL: resolveBaseURL(curator, env),
    // Only when on, so the fingerprints of synchronous runs stay what they were.
    ...(curator.backend?.batch === true ? { batch: true } : {}),
    // Only when the prompts read local files, so the fingerprints of text-only runs stay what they were.
    ...(media !== undefined ? { media } : {}),
  };
  return sha256(stableStringify(parts)).slice(0, 32);
}

/** Identifies the output: the parse function's source (the default parse has its own constant name). */
export function parseFingerprint(curator: Curator): string {
  return sha256(curator.parse ? curator.parse.toString() : 'default-parse').slice(0, 16);
}

/**
 * Identifies a curator's definition as a worker with environment `env` would run it: everything the run and parse
 * fingerprints cover except the dataset. Part of a job's workflow id, so an edited curator starts a new job instead
 * of attaching to the job planned with the old one.
 */
export function curatorFingerprint(curator: Curator, env: NodeJS.ProcessEnv = process.env): string {
  return sha256(`${runFingerprint(curator, '', env)}/${parseFingerprint(curator)}`).slice(0, 16);
}
