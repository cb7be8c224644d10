/** Names the rate-limit bucket of a curator's requests: one per provider, endpoint and model, as providers count. */
import type { Curator } from '../curator';

export function rateBucket(curator: Pick<Curator, 'provider' | 'model'>, baseURL: string): string {
  return `${curator.provider} ${baseURL} ${curator.model}`;
}
