/**
 * Fault selection: in-band `[[sim:...]]` directives found in the prompt text, then programmatic {@link FaultRule}s.
 *
 * In-band directives let a test make one dataset row misbehave without any access to the simulator object, e.g. from a
 * Temporal worker in another process.
 */
import type { FaultRule, FaultSpec, SimProvider } from './types';

/** One parsed `[[sim:...]]` directive. */
export interface Directive {
  fault: FaultSpec;
  /** The first `times` calls carrying the same prompt text get the fault; unset = every call. */
  times?: number;
  probability?: number;
}

const DIRECTIVE = /\[\[sim:([^\]]*)\]\]/g;

/**
 * Parses every directive in `text`. Items are comma-separated `key` or `key=value`; values are URI-decoded so a
 * message can carry commas as `%2C`. Unknown directives are ignored rather than failing the request.
 *
 * Recognised: `status=N` (with `retryAfter`, `retryAfterMs`, `type`, `code`, `message`, `shouldRetry`,
 * `budgetLeft`), `drop`, `slow=MS`, `malformed`, `finish=REASON`, `refusal[=TEXT]`, `invalid-json[=schema|syntax]`, `expire` (batch
 * requests only); plus `times=N` and `probability=P` on any.
 */
export function parseDirectives(text: string): Directive[] {
  if (!text.includes('[[sim:')) return [];
  const directives: Directive[] = [];
  for (const match of text.matchAll(DIRECTIVE)) {
    const items = new Map<string, string | undefined>();
    for (const item of (match[1] ?? '').split(',')) {
      const trimmed = item.trim();
      if (trimmed === '') continue;
      const eq = trimmed.indexOf('=');
      const key = (eq < 0 ? trimmed : trimmed.slice(0, eq)).trim();
      const value = eq < 0 ? undefined : safeDecode(trimmed.slice(eq + 1).trim());
      items.set(key, value);
    }
    const fault = faultFromItems(items);
    if (fault === undefined) continue;
    const directive: Directive = { fault };
    const times = numberOf(items.get('times'));
    if (times !== undefined) directive.times = times;
    const probability = numberOf(items.get('probability') ?? items.get('p'));
    if (probability !== undefined) directive.probability = probability;
    directives.push(directive);
  }
  return directives;
}

function faultFromItems(items: Map<string, string | undefined>): FaultSpec | undefined {
  const status = numberOf(items.get('status'));
  if (status !== undefined) {
    const spec: Extract<FaultSpec, { status: number }> = { status };
    const retryAfter = items.get('retryAfter') ?? items.get('retry-after');
    if (retryAfter !== undefined) spec.retryAfter = numberOf(retryAfter) ?? retryAfter;
    const retryAfterMs = numberOf(items.get('retryAfterMs') ?? items.get('retry-after-ms'));
    if (retryAfterMs !== undefined) spec.retryAfterMs = retryAfterMs;
    const type = items.get('type');
    if (type !== undefined) spec.type = type;
    const code = items.get('code');
    if (code !== undefined) spec.code = code;
    const message = items.get('message');
    if (message !== undefined) spec.message = message;
    const shouldRetry = items.get('shouldRetry') ?? items.get('should-retry');
    if (shouldRetry !== undefined) spec.shouldRetry = shouldRetry !== 'false' && shouldRetry !== '0';
    if (items.has('budgetLeft') || items.has('budget-left')) spec.budgetLeft = true;
    return spec;
  }
  if (items.has('drop')) return { kind: 'drop' };
  if (items.has('slow')) return { kind: 'slow', ms: numberOf(items.get('slow')) ?? 0 };
  if (items.has('malformed')) return { kind: 'malformed' };
  if (items.has('finish')) return { kind: 'finish', reason: items.get('finish') ?? 'length' };
  if (items.has('refusal')) {
    const text = items.get('refusal');
    return text === undefined || text === '' ? { kind: 'refusal' } : { kind: 'refusal', text };
  }
  if (items.has('invalid-json') || items.has('invalid_json')) {
    const breaks = items.get('invalid-json') ?? items.get('invalid_json');
    return breaks === 'schema' || breaks === 'syntax' ? { kind: 'invalid-json', breaks } : { kind: 'invalid-json' };
  }
  if (items.has('expire')) return { kind: 'expire' };
  return undefined;
}

/**
 * Remembers how often each directive-carrying prompt and each rule has fired, so `times` limits hold across calls.
 */
export class FaultBook {
  /** Calls seen per prompt text, only for prompts that carry a directive (keeps the map small). */
  private readonly promptCalls = new Map<string, number>();
  private readonly ruleHits = new Map<FaultRule, number>();

  /**
   * The fault for this call, if any. Directives come first: with several in one prompt, call k (0-based) gets the
   * first directive whose `times` exceeds k, so `[[sim:status=429,times=2]][[sim:status=500,times=3]]` gives 429, 429,
   * 500, then success.
   */
  pick(provider: SimProvider, prompt: string, rules: readonly FaultRule[]): FaultSpec | undefined {
    const directives = parseDirectives(prompt);
    if (directives.length > 0) {
      const seen = this.promptCalls.get(prompt) ?? 0;
      this.promptCalls.set(prompt, seen + 1);
      for (const directive of directives) {
        if (directive.times !== undefined && seen >= directive.times) continue;
        if (directive.probability !== undefined && Math.random() >= directive.probability) continue;
        return directive.fault;
      }
    }
    for (const rule of rules) {
      if (rule.provider !== undefined && rule.provider !== provider) continue;
      if (!matches(rule.match, prompt)) continue;
      const hits = this.ruleHits.get(rule) ?? 0;
      if (hits >= (rule.times ?? Infinity)) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      this.ruleHits.set(rule, hits + 1);
      return rule.fault;
    }
    return undefined;
  }

  reset(): void {
    this.promptCalls.clear();
    this.ruleHits.clear();
  }
}

function matches(pattern: string | RegExp | undefined, prompt: string): boolean {
  if (pattern === undefined) return true;
  if (typeof pattern === 'string') return prompt.includes(pattern);
  // A global or sticky regex keeps `lastIndex` between calls, which would make matching depend on history.
  pattern.lastIndex = 0;
  return pattern.test(prompt);
}

/** Whether a fault is an HTTP error status (as opposed to one of the `kind` faults). */
export function isStatusFault(fault: FaultSpec): fault is Extract<FaultSpec, { status: number }> {
  return 'status' in fault;
}

/** Translates a finish reason into the vocabulary of `provider`; unknown names pass through. */
export function mapFinishReason(reason: string, provider: SimProvider): string {
  const toOpenAI: Record<string, string> = {
    max_tokens: 'length',
    model_context_window_exceeded: 'length',
    refusal: 'content_filter',
    end_turn: 'stop',
    stop_sequence: 'stop',
    pause_turn: 'stop',
    tool_use: 'tool_calls',
  };
  const toAnthropic: Record<string, string> = {
    length: 'max_tokens',
    content_filter: 'refusal',
    stop: 'end_turn',
    tool_calls: 'tool_use',
    function_call: 'tool_use',
  };
  return (provider === 'openai' ? toOpenAI : toAnthropic)[reason] ?? reason;
}

function numberOf(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
