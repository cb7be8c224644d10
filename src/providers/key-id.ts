/**
 * A short name for an API key that identifies it without revealing it: the first 8 hex digits of HMAC-SHA256 of the
 * key under a fixed salt. A client that knows the key puts it in the job's input, and a worker whose own key for the
 * curator's provider has another name refuses the job before paying anything: keys themselves never enter Temporal.
 * 32 bits tell keys apart by accident, not against someone guessing: the salt keeps the name from being matched
 * against hashes of keys published elsewhere, and 8 hex digits are far too few to recover or test a key from.
 */
import { createHmac } from 'node:crypto';
import type { Curator } from '../curator';
import { providerOf } from './index';

const SALT = 'temporal-curator api key id v1';

/** The short, salted name of `key`. */
export function apiKeyId(key: string): string {
  return createHmac('sha256', SALT).update(key).digest('hex').slice(0, 8);
}

/** The name of the key `env` holds for the curator's provider; undefined when it holds none. */
export function apiKeyIdFor(
  curator: Pick<Curator, 'provider'>,
  env: NodeJS.ProcessEnv = process.env
): string | undefined {
  const key = env[providerOf(curator).apiKeyEnv];
  return key ? apiKeyId(key) : undefined;
}
