/**
 * Two `openai` SDK calls over TLS through the lean fetch (`src/providers/http-transport.ts`), against a local HTTPS
 * server with the test certificate in `test/fixtures/tls` (localhost and 127.0.0.1, test use only). Node reads
 * `NODE_EXTRA_CA_CERTS` only at start, so `test/unit/http-transport.test.ts` runs this in a child process, with and
 * without the certificate trusted. Prints one JSON line: the answers or the classified error, and what the server saw.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { bufferedFetch } from '../../src/providers/http-transport';
import { classifyError } from '../../src/providers/outcome';

const tls = join(__dirname, '..', 'fixtures', 'tls');
const completion = (content: string) =>
  JSON.stringify({
    id: 'chatcmpl-tls',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  });

async function main() {
  let connections = 0;
  const acceptEncoding: (string | undefined)[] = [];
  const server = https.createServer(
    { key: readFileSync(join(tls, 'key.pem')), cert: readFileSync(join(tls, 'cert.pem')) },
    (req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        acceptEncoding.push(req.headers['accept-encoding']);
        const asked = (JSON.parse(body) as { messages: { content: string }[] }).messages[0]!.content;
        res
          .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'br' })
          .end(zlib.brotliCompressSync(completion(`tls: ${asked}`)));
      });
    }
  );
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new OpenAI({
    apiKey: 'sk-test',
    baseURL: `https://localhost:${(server.address() as AddressInfo).port}/v1`,
    maxRetries: 0,
    timeout: 10_000,
    fetch: bufferedFetch,
  });
  const result: Record<string, unknown> = {};
  try {
    const answers = [];
    for (const content of ['one', 'two']) {
      const answer = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content }],
      });
      answers.push(answer.choices[0]!.message.content);
    }
    result.answers = answers;
  } catch (err) {
    result.error = classifyError(err);
  }
  console.log(JSON.stringify({ ...result, connections, acceptEncoding }));
  server.closeAllConnections();
  server.close();
}

void main();
