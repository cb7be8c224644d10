/**
 * The simulator's HTTP server: routing, the request pipeline shared by both providers, stats, latency and the
 * `/_sim/*` control API for tests running in another process (`GET /_sim/stats`, `GET /_sim/load-stats` for the
 * refusals by kind, in-flight counts and admitted requests per second, `POST /_sim/reset`, `GET /_sim/calls`).
 *
 * Pipeline of a completion request: capacity gate (when set) → authenticate → parse and validate → fault (in-band
 * directive, then rules) → transient error (when set) → generate the answer → rate-limit admission (debiting the
 * answer's actual usage) → latency → respond. A refusal of the rate limiter or a transient 429/529 is answered at once,
 * as a provider's gateway refuses before any model works on the request: only answers and in-band faults take the
 * latency.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { anthropic, countTokens } from './anthropic';
import { BatchStore, isBatchRoute, isRawReply, maxBodyBytes, type LineAnswer } from './batches';
import { CapacityGate } from './capacity';
import { createLimiter } from './enforcement';
import { FaultBook, isStatusFault } from './faults';
import { latencySampler, type LatencySampler } from './latency';
import { inDialect } from './header-dialects';
import { firstTokenMs } from './streaming';
import { openai } from './openai';
import { isRecord, type JsonReply, type ProviderAdapter, type RequestContext } from './provider';
import { limitSettings, type Limiter, type LimitSettings, type Snapshot } from './rate-limits';
import type { FaultSpec, RecordedRequest, SimProvider, Simulator, SimulatorOptions, SimulatorStats } from './types';

/** Bodies above this are refused, as Anthropic's Messages API does (32 MB). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** What the pipeline decided for one request. */
type Outcome =
  | {
      kind: 'json';
      status: number;
      body: unknown;
      headers: Record<string, string>;
      snapshot?: Snapshot;
      delayMs: number;
    }
  | { kind: 'raw'; status: number; text: string; headers: Record<string, string>; snapshot?: Snapshot; delayMs: number }
  /** A streamed answer: the headers after `firstTokenMs`, then `events` spread until `delayMs`. */
  | {
      kind: 'stream';
      status: number;
      events: string[];
      headers: Record<string, string>;
      snapshot?: Snapshot;
      firstTokenMs: number;
      delayMs: number;
    }
  | { kind: 'drop'; delayMs: number };

/** Sleeps that `close()` can cut short, so a slow fault never keeps the process alive. */
/** A request body's generation params: every field but the model and the conversation. */
function paramsOf(body: Record<string, unknown>): Record<string, unknown> {
  const { model: _model, messages: _messages, system: _system, ...params } = body;
  return params;
}

class Sleeper {
  private readonly pending = new Map<NodeJS.Timeout, () => void>();

  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve();
      }, ms);
      this.pending.set(timer, resolve);
    });
  }

  wakeAll(): void {
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve();
    }
    this.pending.clear();
  }
}

class SimulatorServer {
  readonly stats: SimulatorStats = {
    total: 0,
    byPrompt: new Map(),
    byStatus: new Map(),
    requests: [],
    batchCalls: 0,
    batchesCreated: 0,
    refused: { rateLimited: 0, transient429: 0, overloaded529: 0, capacity503: 0 },
    inFlight: 0,
    maxInFlight: 0,
    maxServing: 0,
    admittedPerSecond: new Map(),
  };
  private options: SimulatorOptions;
  private settings: LimitSettings;
  private limiters: Record<SimProvider, Limiter>;
  private sampleLatency: LatencySampler;
  private gate: CapacityGate | undefined;
  private readonly faults = new FaultBook();
  private readonly sleeper = new Sleeper();
  private readonly batches = new BatchStore({
    options: () => this.options.batches ?? {},
    answer: (provider, body, headers, batchId) => this.batchAnswer(provider, body, headers, batchId),
  });
  private closing = false;

  constructor(options: SimulatorOptions) {
    this.options = { ...options };
    this.settings = limitSettings(options.rateLimits);
    this.limiters = this.newLimiters();
    this.sampleLatency = latencySampler(options.latencyMs);
    this.gate = this.newGate(undefined);
  }

  setOptions(o: Partial<SimulatorOptions>): void {
    this.options = { ...this.options, ...o, port: this.options.port };
    const before = this.settings.enforcement;
    this.settings = limitSettings(this.options.rateLimits);
    if (this.settings.enforcement !== before) this.limiters = this.newLimiters();
    this.sampleLatency = latencySampler(this.options.latencyMs);
    this.gate = this.newGate(this.gate);
  }

  private newLimiters(): Record<SimProvider, Limiter> {
    return { openai: createLimiter(this.settings.enforcement), anthropic: createLimiter(this.settings.enforcement) };
  }

  /** The capacity gate for the current options, keeping requests already inside the old one. */
  private newGate(current: CapacityGate | undefined): CapacityGate | undefined {
    const capacity = this.options.capacity;
    if (capacity === undefined) return undefined;
    const concurrent = Math.max(1, Math.floor(capacity.concurrent));
    const queue = Math.max(0, Math.floor(capacity.queue ?? 0));
    if (current === undefined) return new CapacityGate(concurrent, queue);
    current.resize(concurrent, queue);
    return current;
  }

  reset(): void {
    this.stats.total = 0;
    this.stats.byPrompt.clear();
    this.stats.byStatus.clear();
    this.stats.requests.length = 0;
    this.stats.batchCalls = 0;
    this.stats.batchesCreated = 0;
    for (const kind of Object.keys(this.stats.refused) as Array<keyof SimulatorStats['refused']>) {
      this.stats.refused[kind] = 0;
    }
    this.stats.maxInFlight = this.stats.inFlight;
    this.stats.admittedPerSecond.clear();
    this.gate?.resetStats();
    this.stats.maxServing = this.gate?.maxServing ?? 0;
    this.batches.reset();
    this.faults.reset();
    this.limiters.openai.clear();
    this.limiters.anthropic.clear();
  }

  callsFor(promptText: string): number {
    let calls = 0;
    for (const [prompt, count] of this.stats.byPrompt) if (prompt.includes(promptText)) calls += count;
    return calls;
  }

  shutDown(): void {
    this.closing = true;
    this.sleeper.wakeAll();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = Date.now();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const { bytes, tooLarge } = await readBody(req, maxBodyBytes(path, this.options.batches ?? {}));

    if (path.startsWith('/_sim/')) return this.control(method, path, url, res);
    if (isBatchRoute(path)) return this.batchRoute(req, res, method, path, url, bytes, tooLarge, receivedAt);

    const adapter: ProviderAdapter = path.startsWith('/v1/messages') ? anthropic : openai;
    const ctx: RequestContext = {
      requestId: adapter.newRequestId(),
      model: undefined,
      seed: this.options.seed ?? 'sim',
    };
    const snapshot = (): Snapshot | undefined => this.snapshot(adapter.provider, receivedAt);
    const finish = (reply: JsonReply, delayMs = this.latency()): Promise<void> =>
      this.respond(res, adapter, ctx, receivedAt, { kind: 'json', ...reply, headers: reply.headers ?? {}, delayMs });

    const isCompletion =
      // Any prefix before `/chat/completions`: OpenAI-compatible servers live under paths of their own
      // (`/openai/v1` for Groq, `/v1beta/openai` for Gemini, `/api/v1` for OpenRouter).
      method === 'POST' && (path.endsWith('/chat/completions') || path === '/v1/messages');
    if (method === 'POST' && path === '/v1/messages/count_tokens') {
      if (tooLarge) return finish(adapter.plainError(413, 'Request exceeds the maximum allowed number of bytes.', ctx));
      const denied = adapter.authenticate(req.headers, this.options.validApiKeys, ctx);
      return finish(denied ?? countTokens(parseJson(bytes), req.headers, ctx));
    }
    if (!isCompletion) {
      const message =
        adapter === openai ? `Invalid URL (${method} ${url.pathname})` : `Not found: ${method} ${url.pathname}`;
      return finish(adapter.plainError(404, message, ctx));
    }

    this.stats.inFlight++;
    if (this.stats.inFlight > this.stats.maxInFlight) this.stats.maxInFlight = this.stats.inFlight;
    const gate = this.gate;
    try {
      if (gate !== undefined && !(await gate.enter())) return await this.overCapacity(res, adapter, ctx, receivedAt);
      try {
        return await this.complete(req, res, adapter, ctx, url, bytes, tooLarge, receivedAt, snapshot);
      } finally {
        gate?.leave();
        if (gate !== undefined) this.stats.maxServing = Math.max(this.stats.maxServing, gate.maxServing);
      }
    } finally {
      this.stats.inFlight--;
    }
  }

  /** A full server's answer: 503 at once, recorded like any completion request. */
  private overCapacity(
    res: ServerResponse,
    adapter: ProviderAdapter,
    ctx: RequestContext,
    receivedAt: number
  ): Promise<void> {
    this.stats.refused.capacity503++;
    this.record({ at: receivedAt, provider: adapter.provider, path: '', prompt: '', status: 503 });
    const reply =
      adapter === openai
        ? adapter.plainError(
            503,
            'That model is currently overloaded with other requests. You can retry your request, or contact us ' +
              'through our help center at help.openai.com if the error persists.',
            ctx
          )
        : adapter.plainError(503, 'Service Unavailable: the server is at capacity.', ctx);
    return this.respond(res, adapter, ctx, receivedAt, { kind: 'json', ...reply, headers: {}, delayMs: 0 });
  }

  private async complete(
    req: IncomingMessage,
    res: ServerResponse,
    adapter: ProviderAdapter,
    ctx: RequestContext,
    url: URL,
    bytes: Buffer,
    tooLarge: boolean,
    receivedAt: number,
    snapshot: () => Snapshot | undefined
  ): Promise<void> {
    const body = tooLarge ? undefined : parseJson(bytes);
    const record: RecordedRequest = {
      at: receivedAt,
      provider: adapter.provider,
      path: url.pathname,
      prompt: isRecord(body) ? adapter.promptText(body) : '',
      status: 0,
    };
    const retryCount = Number(req.headers['x-stainless-retry-count']);
    if (req.headers['x-stainless-retry-count'] !== undefined && Number.isFinite(retryCount)) {
      record.retryCount = retryCount;
    }
    if (isRecord(body) && typeof body.model === 'string') record.model = ctx.model = body.model;
    if (isRecord(body)) record.params = paramsOf(body);
    if (isRecord(body) && body.stream === true) record.stream = true;

    const outcome = this.decide(adapter, ctx, req, body, record.prompt, tooLarge, receivedAt, snapshot);
    record.status = outcome.kind === 'drop' ? 0 : outcome.status;
    this.record(record);
    await this.respond(res, adapter, ctx, receivedAt, outcome);
    record.endedAt = Date.now();
  }

  /** The Files and Batches endpoints: authenticated like completions, then handled by the batch store. */
  private async batchRoute(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    url: URL,
    bytes: Buffer,
    tooLarge: boolean,
    receivedAt: number
  ): Promise<void> {
    const adapter: ProviderAdapter = path.startsWith('/v1/messages') ? anthropic : openai;
    const ctx: RequestContext = {
      requestId: adapter.newRequestId(),
      model: undefined,
      seed: this.options.seed ?? 'sim',
    };
    this.stats.batchCalls++;
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      this.respond(res, adapter, ctx, receivedAt, {
        kind: 'json',
        status,
        body,
        headers,
        snapshot: this.snapshot(adapter.provider, receivedAt),
        delayMs: this.latency(),
      });
    if (tooLarge) {
      const reply = adapter.plainError(413, 'Request exceeds the maximum allowed number of bytes.', ctx);
      return json(reply.status, reply.body);
    }
    const denied = adapter.authenticate(req.headers, this.options.validApiKeys, ctx);
    if (denied) return json(denied.status, denied.body, denied.headers);
    const before = this.batches.created;
    const host = req.headers.host ?? '127.0.0.1';
    const reply = await this.batches.handle(method, path, url, req.headers, bytes, `http://${host}`);
    this.stats.batchesCreated += this.batches.created - before;
    if (!isRawReply(reply)) return json(reply.status, reply.body, reply.headers);
    return this.respond(res, adapter, ctx, receivedAt, {
      kind: 'raw',
      status: reply.status,
      text: reply.raw,
      headers: { 'content-type': reply.contentType },
      snapshot: this.snapshot(adapter.provider, receivedAt),
      delayMs: this.latency(),
    });
  }

  /**
   * One request inside a provider batch, answered when the batch ends: validation, faults and answer generation as for
   * a synchronous request, without rate limits or latency (batches have their own queue). A dropped or malformed
   * fault becomes a 500 line, the closest a batch result comes to a broken connection.
   */
  private batchAnswer(
    provider: SimProvider,
    body: unknown,
    headers: IncomingMessage['headers'],
    batchId: string
  ): LineAnswer {
    const adapter = provider === 'anthropic' ? anthropic : openai;
    const ctx: RequestContext = {
      requestId: adapter.newRequestId(),
      model: undefined,
      seed: this.options.seed ?? 'sim',
    };
    const now = Date.now();
    const prompt = isRecord(body) ? adapter.promptText(body) : '';
    const record: RecordedRequest = {
      at: now,
      provider,
      path: provider === 'anthropic' ? '/v1/messages' : '/v1/chat/completions',
      prompt,
      status: 0,
      batchId,
    };
    if (isRecord(body) && typeof body.model === 'string') record.model = ctx.model = body.model;
    if (isRecord(body)) record.params = paramsOf(body);
    const finish = (answer: LineAnswer): LineAnswer => {
      record.status = answer.kind === 'response' ? answer.status : 0;
      this.record(record);
      return answer;
    };
    const reply = (r: JsonReply): LineAnswer =>
      finish({ kind: 'response', status: r.status, body: r.body, requestId: ctx.requestId });
    if (!isRecord(body)) return reply(adapter.unparsable(ctx));
    const invalid = adapter.validate(body, headers, ctx);
    if (invalid !== undefined) return reply(invalid);
    const fault = this.faults.pick(provider, prompt, this.options.faults ?? []);
    if (fault !== undefined && isStatusFault(fault)) {
      return reply(adapter.statusError(fault, ctx, this.limiters[provider].snapshot(now, this.settings)));
    }
    if (fault !== undefined && 'kind' in fault && fault.kind === 'expire') return finish({ kind: 'expire' });
    if (fault !== undefined && 'kind' in fault && (fault.kind === 'drop' || fault.kind === 'malformed')) {
      return reply(adapter.plainError(500, 'The server had an error while processing your request.', ctx));
    }
    const answerFault =
      fault !== undefined && (fault.kind === 'finish' || fault.kind === 'refusal' || fault.kind === 'invalid-json')
        ? fault
        : undefined;
    return reply({ status: 200, body: adapter.generate(body, ctx, answerFault).body });
  }

  private decide(
    adapter: ProviderAdapter,
    ctx: RequestContext,
    req: IncomingMessage,
    body: unknown,
    prompt: string,
    tooLarge: boolean,
    receivedAt: number,
    snapshot: () => Snapshot | undefined
  ): Outcome {
    const delayMs = this.latency();
    const reply = (r: JsonReply): Outcome => ({
      kind: 'json',
      ...r,
      headers: r.headers ?? {},
      snapshot: snapshot(),
      delayMs,
    });
    if (tooLarge) return reply(adapter.plainError(413, 'Request exceeds the maximum allowed number of bytes.', ctx));
    const denied = adapter.authenticate(req.headers, this.options.validApiKeys, ctx);
    if (denied !== undefined) return reply(denied);
    if (!isRecord(body)) return reply(adapter.unparsable(ctx));
    const invalid = adapter.validate(body, req.headers, ctx);
    if (invalid !== undefined) return reply(invalid);

    const picked = this.faults.pick(adapter.provider, prompt, this.options.faults ?? []);
    const transient = picked === undefined ? this.transient(adapter) : undefined;
    const fault = picked ?? transient;
    if (fault !== undefined && isStatusFault(fault)) {
      const state = this.limiters[adapter.provider].snapshot(receivedAt, this.settings);
      const refused = reply(adapter.statusError(fault, ctx, state));
      return transient !== undefined ? { ...refused, delayMs: 0 } : refused;
    }
    if (fault !== undefined && fault.kind === 'drop') return { kind: 'drop', delayMs };

    const answerFault =
      fault !== undefined && (fault.kind === 'finish' || fault.kind === 'refusal' || fault.kind === 'invalid-json')
        ? fault
        : undefined;
    const generated = adapter.generate(body, ctx, answerFault);
    const rejection = this.limiters[adapter.provider].admit(receivedAt, generated.cost, this.settings);
    if (rejection !== undefined) {
      this.stats.refused.rateLimited++;
      return { ...reply(adapter.rateLimited(rejection, ctx)), delayMs: 0 };
    }

    const extra = fault !== undefined && fault.kind === 'slow' ? Math.max(0, fault.ms) : 0;
    if (fault !== undefined && fault.kind === 'malformed') {
      const text = JSON.stringify(generated.body);
      return {
        kind: 'raw',
        status: 200,
        text: text.slice(0, Math.floor(text.length / 2)),
        headers: {},
        snapshot: snapshot(),
        delayMs,
      };
    }
    if (body.stream === true) {
      return {
        kind: 'stream',
        status: 200,
        events: adapter.streamEvents(generated.body, body),
        headers: {},
        snapshot: snapshot(),
        firstTokenMs: firstTokenMs(delayMs, this.options.firstToken) + extra,
        delayMs: delayMs + extra,
      };
    }
    return {
      kind: 'json',
      status: 200,
      body: generated.body,
      headers: {},
      snapshot: snapshot(),
      delayMs: delayMs + extra,
    };
  }

  /** A random transient error of {@link SimulatorOptions.transient}, counted; decided before the limiter. */
  private transient(adapter: ProviderAdapter): FaultSpec | undefined {
    const transient = this.options.transient;
    if (transient === undefined) return undefined;
    const retryAfter = transient.retryAfterSeconds ?? 1;
    if (Math.random() < (transient.rate429 ?? 0)) {
      this.stats.refused.transient429++;
      return { status: 429, retryAfter, budgetLeft: true };
    }
    if (adapter === anthropic && Math.random() < (transient.rate529 ?? 0)) {
      this.stats.refused.overloaded529++;
      return { status: 529, retryAfter };
    }
    return undefined;
  }

  private snapshot(provider: SimProvider, now: number): Snapshot | undefined {
    if (this.options.omitRateLimitHeaders === true || this.options.capacity !== undefined) return undefined;
    return this.limiters[provider].snapshot(now, this.settings);
  }

  private record(record: RecordedRequest): void {
    this.stats.total++;
    this.stats.requests.push(record);
    this.stats.byPrompt.set(record.prompt, (this.stats.byPrompt.get(record.prompt) ?? 0) + 1);
    this.stats.byStatus.set(record.status, (this.stats.byStatus.get(record.status) ?? 0) + 1);
    if (record.status === 200 && record.batchId === undefined) {
      const second = Math.floor(record.at / 1000);
      this.stats.admittedPerSecond.set(second, (this.stats.admittedPerSecond.get(second) ?? 0) + 1);
    }
  }

  private latency(): number {
    return this.sampleLatency(Math.random);
  }

  private async respond(
    res: ServerResponse,
    adapter: ProviderAdapter,
    ctx: RequestContext,
    receivedAt: number,
    outcome: Outcome
  ): Promise<void> {
    await this.sleeper.sleep(outcome.kind === 'stream' ? outcome.firstTokenMs : outcome.delayMs);
    if (this.closing || outcome.kind === 'drop') {
      res.socket?.destroy();
      res.destroy();
      return;
    }
    if (res.destroyed || res.writableEnded) return;
    const text = outcome.kind === 'json' ? JSON.stringify(outcome.body) : outcome.kind === 'raw' ? outcome.text : '';
    const extra = { ...outcome.headers };
    if (this.options.omitRateLimitHeaders === true || this.options.capacity !== undefined) {
      for (const name of Object.keys(extra)) if (/^(x-|anthropic-)ratelimit-/.test(name)) delete extra[name];
    }
    let headers: Record<string, string> = {
      'content-type': 'application/json',
      ...adapter.commonHeaders(ctx, outcome.snapshot, Date.now() - receivedAt),
      ...extra,
    };
    if (outcome.kind === 'stream') {
      headers['content-type'] = 'text/event-stream; charset=utf-8';
      headers['cache-control'] = 'no-cache';
    } else headers['content-length'] = String(Buffer.byteLength(text));
    const dialect = this.options.rateLimitHeaderDialect;
    if (dialect !== undefined && adapter === openai) headers = inDialect(dialect, headers);
    res.writeHead(outcome.status, headers);
    if (outcome.kind === 'stream') return this.stream(res, outcome.events, outcome.delayMs - outcome.firstTokenMs);
    res.end(text);
  }

  /**
   * Writes a stream's events spread evenly over `spanMs`. A client that goes away mid-stream leaves the rest unsent:
   * the request was received, admitted and counted, as a provider counts it.
   */
  private async stream(res: ServerResponse, events: string[], spanMs: number): Promise<void> {
    res.flushHeaders();
    const gap = events.length > 1 ? Math.max(0, spanMs) / (events.length - 1) : 0;
    for (let i = 0; i < events.length; i++) {
      if (i > 0) await this.sleeper.sleep(gap);
      if (this.closing) {
        res.destroy();
        return;
      }
      if (res.destroyed || res.writableEnded) return;
      res.write(events[i]);
    }
    res.end();
  }

  private control(method: string, path: string, url: URL, res: ServerResponse): void {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
    };
    if (method === 'GET' && path === '/_sim/stats') {
      return send(200, {
        total: this.stats.total,
        byStatus: Object.fromEntries(this.stats.byStatus),
        byPrompt: Object.fromEntries(this.stats.byPrompt),
      });
    }
    if (method === 'GET' && path === '/_sim/load-stats') {
      return send(200, {
        total: this.stats.total,
        refused: this.stats.refused,
        inFlight: this.stats.inFlight,
        maxInFlight: this.stats.maxInFlight,
        maxServing: this.stats.maxServing,
        admittedPerSecond: Object.fromEntries(this.stats.admittedPerSecond),
      });
    }
    if (method === 'GET' && path === '/_sim/batch-stats') {
      return send(200, { batchCalls: this.stats.batchCalls, batchesCreated: this.stats.batchesCreated });
    }
    if (method === 'POST' && path === '/_sim/reset') {
      this.reset();
      return send(200, { ok: true });
    }
    if (method === 'GET' && path === '/_sim/calls') {
      const prompt = url.searchParams.get('prompt') ?? '';
      return send(200, { prompt, calls: this.callsFor(prompt) });
    }
    send(404, { error: { message: `Unknown simulator control route ${method} ${path}` } });
  }
}

async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<{ bytes: Buffer; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    // Keep draining so the client sees a response rather than a reset, but stop buffering.
    if (size > limit) tooLarge = true;
    else chunks.push(buffer);
  }
  return { bytes: tooLarge ? Buffer.alloc(0) : Buffer.concat(chunks), tooLarge };
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Starts a simulator on 127.0.0.1.
 *
 * @example
 * const sim = await startSimulator({ rateLimits: { rpm: 600 } });
 * const client = new OpenAI({ apiKey: 'sk-test', baseURL: sim.openaiBaseURL, maxRetries: 0 });
 * // …
 * await sim.close();
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new SimulatorServer(options);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    sim.handle(req, res).catch((err: unknown) => {
      // A bug in the simulator must surface as a 500 the client can see, not as a hung request.
      if (!res.headersSent) {
        const text = JSON.stringify({ error: { message: `Simulator error: ${String(err)}`, type: 'server_error' } });
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(text);
      } else res.destroy();
    });
  });
  // Answers may take tens of seconds and thousands may be open at once: no server timeout may cut them, and idle
  // keep-alive sockets outlive the clients' own idle timeouts so that a reused socket is not closed under a request.
  server.requestTimeout = 0;
  server.headersTimeout = 120_000;
  server.keepAliveTimeout = 65_000;
  server.maxRequestsPerSocket = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept backlog, so that thousands of connections opened at once are not refused.
    server.listen(options.port ?? 0, '127.0.0.1', 8192, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;

  return {
    url,
    openaiBaseURL: `${url}/v1`,
    anthropicBaseURL: url,
    stats: sim.stats,
    callsFor: (promptText) => sim.callsFor(promptText),
    reset: () => sim.reset(),
    setOptions: (o) => sim.setOptions(o),
    close() {
      closed ??= new Promise<void>((resolve) => {
        sim.shutDown();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
