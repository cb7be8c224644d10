/** Names the rate-limit bucket of a curator's requests: one per provider, endpoint and model, as providers count. */
export { rateBucket } from '../providers';
