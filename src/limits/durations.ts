/** Durations as providers write them in rate-limit headers. */

/** Go-style durations as in OpenAI's `x-ratelimit-reset-*` headers: `1s`, `6m0s`, `12ms`, `1.5s`, `1h2m`. */
export function parseGoDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g;
  let total = 0;
  let matched = '';
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const value = Number(m[1]);
    const unit = m[2];
    total += value * ({ h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 }[unit] ?? 0);
    matched += m[0];
  }
  return matched.length > 0 && matched === text.trim() ? total : undefined;
}
