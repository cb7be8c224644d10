/**
 * What the provider clients share of a limits probe (`ProviderClient.probeLimits`): the message it sends and how its
 * streamed response is read, headers only.
 */

/** The one user message of a probe, as Curator's own probe sends it. */
export const PROBE_PROMPT = 'hi';

/**
 * The headers of a probe's response, its stream given up at once (only the headers were wanted; the provider stops
 * generating when the connection closes). Undefined when the answer is not a stream: a server that ignores `stream`
 * answered the whole request, which says nothing about a time to first token.
 */
export function probeHeaders(response: Response, stream: { controller: AbortController }): Headers | undefined {
  stream.controller.abort();
  return /^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '') ? response.headers : undefined;
}
