/**
 * An OpenAI-compatible chat completions server that is not our simulator: plain `node:http`, counting the requests of
 * each prompt, with faults chosen per prompt by markers in its text:
 * `[[slow=MS]]` answers after MS milliseconds, `[[hang]]` never answers, `[[empty-first]]` answers its first attempt
 * with an empty 200 body. Structured-output requests get `{"title", "poem", "mood"}` with the prompt as the poem.
 */
import { createServer, type ServerResponse } from 'node:http';
import './probe-off';
import type { AddressInfo } from 'node:net';

export interface FaultServer {
  /** The base URL for `OPENAI_BASE_URL` (ends in /v1). */
  baseURL: string;
  /** Requests received per prompt (the last user message). */
  counts: Map<string, number>;
  /** Requests received in all. */
  total(): number;
  /** The API keys requests came with. */
  keys: Set<string>;
  close(): Promise<void>;
}

export async function startFaultServer(): Promise<FaultServer> {
  const counts = new Map<string, number>();
  const keys = new Set<string>();
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      keys.add(String(req.headers.authorization ?? '').replace(/^Bearer /, ''));
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        model: string;
        messages: { role: string; content: string }[];
        response_format?: unknown;
      };
      const prompt = body.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
      const n = (counts.get(prompt) ?? 0) + 1;
      counts.set(prompt, n);
      if (prompt.includes('[[hang]]')) {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (prompt.includes('[[empty-first]]') && n === 1) {
        res.writeHead(200, { 'content-type': 'application/json' }).end();
        return;
      }
      const content = body.response_format
        ? JSON.stringify({ title: 'T', poem: `fault-server: ${prompt}`, mood: 'calm' })
        : `fault-server: ${prompt}`;
      const answer = JSON.stringify({
        id: `chatcmpl-${n}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
      });
      const delay = Number(/\[\[slow=(\d+)\]\]/.exec(prompt)?.[1] ?? 0);
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(answer), delay);
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    counts,
    keys,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
