/**
 * The HTTP path under the provider SDKs' per-request calls: a `fetch` on `node:http(s)` keep-alive agents that
 * reads the whole answer before resolving.
 *
 * Why not the global `fetch`: at hundreds of requests a second, Node's WHATWG fetch (undici) costs more of the
 * worker's one main thread than everything else a request does — each call builds request and response streams,
 * tees and transferable wrappers that a small JSON answer never needs. Measured on the simulator with the `openai`
 * SDK: 0.59 → 0.36 CPU-ms per request (`bench/README.md`, Findings 9). The SDKs stay in charge of everything
 * else (headers, auth, timeouts through their abort signal, errors, parsing); only the wire is ours.
 *
 * Anything this path does not serve the way `fetch` would — a `Request` object, a streamed, multipart or binary
 * body, a scheme other than http(s), a redirect — goes to the global `fetch` unchanged. Setting
 * `CURATOR_HTTP_CLIENT=fetch` in the worker's environment uses the global `fetch` for everything.
 */
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';

type Fetch = typeof globalThis.fetch;

/** Which HTTP client the provider calls use, from the worker's environment: ours unless `CURATOR_HTTP_CLIENT=fetch`. */
export function providerFetch(env: NodeJS.ProcessEnv = process.env): Fetch | undefined {
  const choice = env.CURATOR_HTTP_CLIENT;
  if (choice === 'fetch') return undefined;
  if (choice !== undefined && choice !== '' && choice !== 'node') {
    throw new Error(`CURATOR_HTTP_CLIENT must be "node" (the default) or "fetch", got "${choice}"`);
  }
  return bufferedFetch;
}

// One pool per protocol for the process: connections are reused across requests, clients and activities, as
// undici's global dispatcher does for `fetch`.
// An idle connection is dropped after 4 s (undici's default), or sooner when the server's `Keep-Alive` hint says so,
// so that a request is not sent on a socket the server is closing. The timeout only ends idle sockets: a long call
// on a busy one is bounded by the SDK's own timeout.
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: 4_000 }),
  'https:': new https.Agent({ keepAlive: true, timeout: 4_000 }),
};

const REDIRECT = new Set([301, 302, 303, 307, 308]);

/** A `fetch` for small request/response exchanges; see the module comment for what it hands to the global one. */
export const bufferedFetch: Fetch = (input, init) => {
  const body = init?.body;
  if (typeof input !== 'string' && !(input instanceof URL)) return fetch(input, init);
  if (body !== undefined && body !== null && typeof body !== 'string') return fetch(input, init);
  const url = typeof input === 'string' ? new URL(input) : input;
  const protocol = url.protocol as keyof typeof agents;
  const agent = agents[protocol];
  if (!agent) return fetch(input, init);
  const client = protocol === 'https:' ? https : http;

  const headers = outgoingHeaders(init?.headers, url);
  if (body) headers['content-length'] = String(Buffer.byteLength(body));
  const signal = init?.signal ?? undefined;

  return new Promise<Response>((resolve, reject) => {
    const fail = (err: Error) =>
      reject(err.name === 'AbortError' ? err : new TypeError('fetch failed', { cause: err }));
    const req = client.request(
      url,
      { method: (init?.method ?? 'GET').toUpperCase(), headers, agent, signal },
      (res) => {
        const status = res.statusCode ?? 0;
        if (REDIRECT.has(status) && res.headers.location) {
          res.resume();
          fetch(input, init).then(resolve, reject);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete)
            fail(Object.assign(new Error('the connection closed before the response ended'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => {
          decode(Buffer.concat(chunks), res.headers['content-encoding']).then((bytes) => {
            const responseHeaders = new Headers();
            const raw = res.rawHeaders;
            for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
            resolve(new BufferedResponse(bytes, status, res.statusMessage ?? '', responseHeaders, url.href));
          }, fail);
        });
      }
    );
    req.on('error', fail);
    req.end(body ?? undefined);
  });
};

function outgoingHeaders(source: RequestInit['headers'], url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  if (source instanceof Headers) source.forEach((value, name) => (out[name] = value));
  else if (Array.isArray(source)) for (const [name, value] of source) out[name!.toLowerCase()] = value!;
  else if (source) for (const [name, value] of Object.entries(source)) out[name.toLowerCase()] = String(value);
  // What `fetch` asks for when the caller does not say, so servers compress as they would for the SDK's default.
  out['accept-encoding'] ??= url.protocol === 'https:' ? 'br, gzip, deflate' : 'gzip, deflate';
  out.accept ??= '*/*';
  return out;
}

function decode(bytes: Buffer, encoding: string | undefined): Promise<Buffer> {
  const coding = encoding?.trim().toLowerCase();
  if (!coding || coding === 'identity' || bytes.length === 0) return Promise.resolve(bytes);
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out));
    if (coding === 'gzip' || coding === 'x-gzip')
      zlib.gunzip(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH }, done);
    // Servers send "deflate" both with and without the zlib wrapper; the first byte tells which.
    else if (coding === 'deflate') ((bytes[0]! & 0x0f) === 0x08 ? zlib.inflate : zlib.inflateRaw)(bytes, done);
    else if (coding === 'br') zlib.brotliDecompress(bytes, done);
    else resolve(bytes);
  });
}

/**
 * A `Response` whose body is already in memory. The stream behind `body` is made only if someone asks for it;
 * the SDKs read JSON answers with `json()`/`text()`.
 */
class BufferedResponse implements Response {
  readonly type: Response['type'] = 'basic';
  readonly redirected = false;
  private used = false;
  private stream?: ReadableStream<Uint8Array> | null;

  constructor(
    private readonly content: Buffer,
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    readonly url: string
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.stream === undefined) this.stream = new Response(this.content.length ? this.content : null).body;
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
    return this.take().toString('utf8');
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
    return new BufferedResponse(this.content, this.status, this.statusText, this.headers, this.url);
  }
}
