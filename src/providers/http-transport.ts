/**
 * The HTTP path under the provider SDKs' per-request calls: a `fetch` on `node:http(s)` keep-alive agents that
 * reads the whole answer before resolving.
 *
 * Why not the global `fetch`: at hundreds of requests a second, Node's WHATWG fetch (undici) costs more of the
 * worker's one main thread than everything else a request does — each call builds request and response streams,
 * tees and transferable wrappers that a small JSON answer never needs. Measured with the `openai` SDK in a bare
 * loop on the simulator: 0.58 → 0.28 CPU-ms per request, and the worker 1.16 → 0.85 (`bench/README.md`, Findings 9).
 * The SDKs stay in charge of everything else (headers, auth, timeouts through their abort signal, errors, parsing);
 * only the wire is ours.
 *
 * Anything this path does not serve the way `fetch` would — a `Request` object, a streamed, multipart or binary
 * body, a scheme other than http(s) — goes to the global `fetch` unchanged. Redirects are followed here, as `fetch`
 * follows them. Setting `CURATOR_HTTP_CLIENT=fetch` in the worker's environment uses the global `fetch` for
 * everything.
 */
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import { WIRE_GATE, type LateWrite, type WireGate } from '../limits/wire-gate';

type Fetch = typeof globalThis.fetch;

/**
 * Which HTTP client the provider calls use, from the worker's environment: ours unless `CURATOR_HTTP_CLIENT=fetch`
 * (the global `fetch`, its requests still let out by their wire gate).
 */
export function providerFetch(env: NodeJS.ProcessEnv = process.env): Fetch {
  const choice = env.CURATOR_HTTP_CLIENT;
  if (choice === 'fetch') return gatedFetch;
  if (choice !== undefined && choice !== '' && choice !== 'node') {
    throw new Error(`CURATOR_HTTP_CLIENT must be "node" (the default) or "fetch", got "${choice}"`);
  }
  return bufferedFetch;
}

// One pool per protocol for the process: connections are reused across requests, clients and activities, as
// undici's global dispatcher does for `fetch`.
// An idle connection is dropped after 4 s (undici's default), or sooner when the server's `Keep-Alive` hint says so,
// so that a request is not sent on a socket the server is closing. The timeout only ends idle sockets: a long call
// on a busy one is bounded by the SDK's own timeout. Every idle connection is kept until then (Node keeps 256 by
// default): with thousands in flight, answers that come together (after a busy turn of the event loop) would otherwise
// close all but 256 of their connections, and the next requests would wait for new ones, reaching the provider late
// and bunched (bench/README.md, 2026-11-30).
const pool = { keepAlive: true, timeout: 4_000, maxFreeSockets: Infinity };
const agents = {
  'http:': new http.Agent(pool),
  'https:': new https.Agent(pool),
};

const REDIRECT = new Set([301, 302, 303, 307, 308]);
/** Statuses whose response has no body at all (`body` is null), as in the Fetch standard. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
const MAX_REDIRECTS = 20;
// `TextDecoder` drops a leading byte-order mark, as `fetch`'s `text()` and `json()` do; `Buffer#toString` would not.
const utf8 = new TextDecoder();

/** The `fetch` options that carry a request's wire gate to `bufferedFetch` (none: the request is not paced). */
export function wireOptions(gate: WireGate | undefined): Pick<RequestInit, never> | undefined {
  // The SDKs spread their `fetchOptions` into the `RequestInit` they give `fetch`, symbol keys included.
  return gate ? { [WIRE_GATE]: gate } : undefined;
}

/**
 * A `fetch` for small request/response exchanges; see the module comment for what it hands to the global one. A
 * request that carries a wire gate (`wireOptions`) is written when its gate lets it.
 */
export const bufferedFetch: Fetch = (input, init) => {
  const gate = gateOf(init);
  return gate ? gate.send((late) => directFetch(input, init, late), init?.signal) : directFetch(input, init);
};

/** The global `fetch`, a request that carries a wire gate let out when its gate lets it (written by undici soon after). */
export const gatedFetch: Fetch = (input, init) => {
  const gate = gateOf(init);
  return gate ? gate.send(() => fetch(input, init), init?.signal) : fetch(input, init);
};

/** The wire gate a request's `fetch` options carry (see `wireOptions`). */
function gateOf(init: RequestInit | undefined): WireGate | undefined {
  return (init as { [WIRE_GATE]?: WireGate } | undefined)?.[WIRE_GATE];
}

function directFetch(input: Parameters<Fetch>[0], init: Parameters<Fetch>[1], late?: LateWrite): ReturnType<Fetch> {
  const body = init?.body;
  if (typeof input !== 'string' && !(input instanceof URL)) return fetch(input, init);
  if (body !== undefined && body !== null && typeof body !== 'string') return fetch(input, init);
  const url = typeof input === 'string' ? new URL(input) : input;
  if (!(url.protocol in agents)) return fetch(input, init);
  return send(
    url,
    (init?.method ?? 'GET').toUpperCase(),
    outgoingHeaders(init?.headers, url),
    body ?? undefined,
    init?.signal,
    0,
    late
  );
}

function send(
  url: URL,
  /** Upper case. */
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal | null | undefined,
  redirects: number,
  /** Told when the request leaves later than now, on a connection still being opened (see `limits/wire-gate.ts`). */
  late?: LateWrite
): Promise<Response> {
  const protocol = url.protocol as keyof typeof agents;
  const client = protocol === 'https:' ? https : http;
  if (body) headers['content-length'] = String(Buffer.byteLength(body));
  else delete headers['content-length'];

  return new Promise<Response>((resolve, reject) => {
    const fail = (err: Error) =>
      reject(err.name === 'AbortError' ? err : new TypeError('fetch failed', { cause: err }));
    const req = client.request(
      url,
      { method, headers, agent: agents[protocol], signal: signal ?? undefined },
      (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (REDIRECT.has(status) && location !== undefined) {
          // Followed here, once, as `fetch` does: the request is not sent again from the start.
          res.resume();
          if (redirects >= MAX_REDIRECTS) return fail(new Error(`more than ${MAX_REDIRECTS} redirects`));
          const next = new URL(location, url);
          if (!(next.protocol in agents)) return fail(new Error(`redirect to an unsupported URL: ${next.href}`));
          // 303, and 301/302 after a POST, become a GET without a body; 307 and 308 repeat the request as it was.
          const toGet = status === 303 ? method !== 'HEAD' : status <= 302 && method === 'POST';
          const nextHeaders = { ...headers };
          if (toGet)
            for (const name of Object.keys(nextHeaders)) if (name.startsWith('content-')) delete nextHeaders[name];
          // Credentials do not follow a redirect to another origin.
          if (next.origin !== url.origin) delete nextHeaders.authorization;
          send(next, toGet ? 'GET' : method, nextHeaders, toGet ? undefined : body, signal, redirects + 1).then(
            resolve,
            reject
          );
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) {
            fail(Object.assign(new Error('the connection closed before the response ended'), { code: 'ECONNRESET' }));
          }
        });
        res.on('end', () => {
          decode(Buffer.concat(chunks), res.headers['content-encoding'])
            .then((bytes) => {
              const responseHeaders = new Headers();
              const raw = res.rawHeaders;
              for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
              const href = url.hash ? url.href.slice(0, -url.hash.length) : url.href;
              const bodyless = NULL_BODY.has(status) || method === 'HEAD';
              resolve(
                new BufferedResponse(
                  bytes,
                  bodyless,
                  status,
                  res.statusMessage ?? '',
                  responseHeaders,
                  href,
                  redirects > 0
                )
              );
            })
            .catch(fail);
        });
      }
    );
    req.on('error', fail);
    if (late) {
      req.once('socket', (socket) => {
        if (socket.connecting) socket.once(protocol === 'https:' ? 'secureConnect' : 'connect', () => late(Date.now()));
      });
    }
    req.end(body);
    flattenHeaderText(req);
  });
}

/**
 * Node keeps a request's header text for as long as the request lives (tens of seconds for a slow answer), as a
 * string joined from some 60 pieces, each kept apart: several times the text's own size, for every request in
 * flight. Reading a character of it makes V8 join it into one string in place, and the pieces become garbage.
 */
function flattenHeaderText(req: http.ClientRequest): void {
  const text = (req as { _header?: unknown })._header;
  if (typeof text === 'string' && text.length > 0) text.charCodeAt(0);
}

function outgoingHeaders(source: RequestInit['headers'], url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  if (source instanceof Headers) source.forEach((value, name) => (out[name] = value));
  else if (Array.isArray(source)) {
    for (const [name, value] of source) {
      const key = name!.toLowerCase();
      out[key] = out[key] === undefined ? value! : `${out[key]}, ${value}`;
    }
  } else if (source) for (const [name, value] of Object.entries(source)) out[name.toLowerCase()] = String(value);
  // What `fetch` asks for when the caller does not say, so servers compress as they would for the SDK's default.
  out['accept-encoding'] ??= url.protocol === 'https:' ? 'br, gzip, deflate' : 'gzip, deflate';
  out.accept ??= '*/*';
  return out;
}

/** Undoes the content codings, last applied first; with a coding it does not know, the bytes stay as they came. */
async function decode(bytes: Buffer, encoding: string | undefined): Promise<Buffer> {
  const codings = (encoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0 || bytes.length === 0) return bytes;
  if (!codings.every((c) => c in DECODERS)) return bytes;
  let out = bytes;
  for (const coding of codings.reverse()) out = await DECODERS[coding]!(out);
  return out;
}

const promised =
  (run: (bytes: Buffer, done: (err: Error | null, out: Buffer) => void) => void) =>
  (bytes: Buffer): Promise<Buffer> =>
    new Promise((resolve, reject) => run(bytes, (err, out) => (err ? reject(err) : resolve(out))));

const gunzip = promised((bytes, done) => zlib.gunzip(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH }, done));
const DECODERS: Record<string, (bytes: Buffer) => Promise<Buffer>> = {
  gzip: gunzip,
  'x-gzip': gunzip,
  // Servers send "deflate" both with and without the zlib wrapper; the first byte tells which.
  deflate: promised((bytes, done) => ((bytes[0]! & 0x0f) === 0x08 ? zlib.inflate : zlib.inflateRaw)(bytes, done)),
  br: promised((bytes, done) => zlib.brotliDecompress(bytes, done)),
};

/**
 * A `Response` whose body is already in memory. The stream behind `body` is made only if someone asks for it (the
 * Anthropic SDK does, to watch for abandoned responses; both SDKs read JSON answers with `json()`).
 */
class BufferedResponse implements Response {
  readonly type: Response['type'] = 'default';
  private used = false;
  private stream?: ReadableStream<Uint8Array> | null;

  constructor(
    private readonly content: Buffer,
    private readonly bodyless: boolean,
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    readonly url: string,
    readonly redirected: boolean
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.stream === undefined) {
      if (this.bodyless) this.stream = null;
      else {
        // Reading the stream uses the body up, as with `fetch`.
        const take = () => this.take();
        // A high-water mark of 0: nothing is pulled (and the body not used) until someone reads.
        this.stream = new ReadableStream<Uint8Array>(
          {
            pull(controller) {
              const bytes = take();
              if (bytes.length) controller.enqueue(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
              controller.close();
            },
          },
          { highWaterMark: 0 }
        );
      }
    }
    return this.stream;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  private take(): Buffer {
    if (this.used) throw new TypeError('Body is unusable: Body has already been read');
    this.used = true;
    return this.content;
  }

  async text(): Promise<string> {
    return utf8.decode(this.take());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.arrayBuffer());
  }

  async blob(): Promise<Blob> {
    return new Blob([this.take()], { type: this.headers.get('content-type') ?? '' });
  }

  async formData(): Promise<FormData> {
    return new Response(this.take(), { headers: this.headers }).formData();
  }

  clone(): Response {
    if (this.used) throw new TypeError('Response.clone: Body has already been consumed.');
    return new BufferedResponse(
      this.content,
      this.bodyless,
      this.status,
      this.statusText,
      this.headers,
      this.url,
      this.redirected
    );
  }
}
