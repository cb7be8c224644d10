/**
 * Issue #15 part 1, the request side: images and files in prompts. Checked where a prompt is built, read and inlined
 * by the worker with per-row errors, mapped to each provider's exact wire body, counted by the token estimates as the
 * simulator counts them, and hashed into the run's identity.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCurator, type Row } from '../../src/curator';
import { PromptError } from '../../src/errors';
import { anthropic } from '../../src/providers/anthropic';
import { openai, openaiBody } from '../../src/providers/openai';
import { formatRequests } from '../../src/requests/format';
import { inlineRequest, inlineRequests, recordedRequest } from '../../src/requests/inline';
import { mediaDigest } from '../../src/requests/media-digest';
import { anthropicImageTokens, openaiImageTokens } from '../../src/simulator/media';
import type { ProviderRequest } from '../../src/providers/types';
import type { ChatMessage } from '../../src/types/messages';
import { pdf, png } from '../helpers/media-bytes';

let dir: string;
let photo: string;
let paper: string;
let notes: string;
const image = png(1024, 1024);
const b64 = image.toString('base64');

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'media-prompts-'));
  photo = join(dir, 'photo.png');
  paper = join(dir, 'paper.pdf');
  notes = join(dir, 'notes.txt');
  writeFileSync(photo, image);
  writeFileSync(paper, pdf(2));
  writeFileSync(notes, 'plain notes');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const request = (messages: ChatMessage[], model = 'gpt-4o-mini'): ProviderRequest => ({ model, messages, params: {} });

const mixed = (): ChatMessage[] => [
  { role: 'system', content: 'Describe.' },
  {
    role: 'user',
    content: [
      { type: 'text', text: 'What is this?' },
      { type: 'image', path: photo, detail: 'low' },
      { type: 'image', url: 'https://example.com/cat.jpg' },
      { type: 'file', path: paper },
      { type: 'file', data: Buffer.from('plain notes'), mediaType: 'text/plain', filename: 'notes.txt' },
    ],
  },
];

async function rejects(work: Promise<unknown>, pattern: RegExp) {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(err instanceof PromptError, `expected a PromptError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('the wire bodies', () => {
  test('OpenAI: image_url parts (data URL or URL, detail) and file parts (file_data with a file name)', async () => {
    const inlined = await inlineRequest(request(mixed()), openai.media, 'openai');
    assert.deepEqual(openai.body(inlined), {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Describe.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${b64}`, detail: 'low' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            {
              type: 'file',
              file: { filename: 'paper.pdf', file_data: `data:application/pdf;base64,${pdf(2).toString('base64')}` },
            },
            {
              type: 'file',
              file: {
                filename: 'notes.txt',
                file_data: `data:text/plain;base64,${Buffer.from('plain notes').toString('base64')}`,
              },
            },
          ],
        },
      ],
    });
  });

  test('OpenAI: text-only messages keep their string content; JSON mode puts its instruction first', async () => {
    const body = openaiBody(
      { ...request([{ role: 'user', content: [{ type: 'image', base64: b64, mediaType: 'image/png' }] }]), schema: {} },
      'json_object'
    );
    const messages = body.messages as { role: string; content: unknown }[];
    assert.equal(messages[0]!.role, 'system');
    assert.deepEqual(messages[1]!.content, [{ type: 'image_url', image_url: { url: `data:image/png;base64,${b64}` } }]);
    assert.deepEqual(openai.body(request([{ role: 'user', content: 'hi' }])).messages, [
      { role: 'user', content: 'hi' },
    ]);
  });

  test('Anthropic: image blocks (base64 or URL source) and document blocks (PDF base64, text); system as text', async () => {
    const messages = mixed();
    messages[1]!.content = (messages[1]!.content as never[]).filter((_, k) => k !== 4);
    (messages[1]!.content as unknown[]).push({ type: 'file', path: notes, filename: 'notes' });
    (messages[1]!.content as unknown[]).push({ type: 'file', url: 'https://example.com/a.pdf' });
    const inlined = await inlineRequest(request(messages, 'claude-sonnet-4-5'), anthropic.media, 'anthropic');
    assert.deepEqual(anthropic.body(inlined), {
      max_tokens: 4096,
      model: 'claude-sonnet-4-5',
      system: 'Describe.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: b64 } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: pdf(2).toString('base64') },
              title: 'paper.pdf',
            },
            {
              type: 'document',
              source: { type: 'text', media_type: 'text/plain', data: 'plain notes' },
              title: 'notes',
            },
            { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } },
          ],
        },
      ],
    });
  });
});

describe('reading and checking before sending', () => {
  test('an image by path, base64, data: URL or bytes is inline base64, typed by its bytes whatever else says', async () => {
    const misnamed = join(dir, 'photo.jpg');
    writeFileSync(misnamed, image);
    const inlined = await inlineRequest(
      request([
        {
          role: 'user',
          content: [
            { type: 'image', path: misnamed },
            { type: 'image', base64: b64, mediaType: 'image/jpeg' },
            { type: 'image', url: `data:image/gif;base64,${b64}` },
            { type: 'image', data: image },
          ],
        },
      ])
    );
    assert.deepEqual(inlined.messages[0]!.content, [
      { type: 'image', base64: b64, mediaType: 'image/png' },
      { type: 'image', base64: b64, mediaType: 'image/png' },
      { type: 'image', base64: b64, mediaType: 'image/png' },
      { type: 'image', base64: b64, mediaType: 'image/png' },
    ]);
  });

  test('a missing file, a file that is no image, an unknown file type: clear errors naming the part and file', async () => {
    const missing = join(dir, 'gone.png');
    await rejects(
      inlineRequest(request([{ role: 'user', content: [{ type: 'image', path: missing }] }])),
      new RegExp(`cannot read the image messages\\[0\\]\\.content\\[0\\] at ${missing}: no such file`)
    );
    await rejects(
      inlineRequest(request([{ role: 'user', content: [{ type: 'image', path: notes }] }])),
      /the image messages\[0\]\.content\[0\] \(.*notes\.txt\) is not a PNG, JPEG, GIF or WebP image/
    );
    await rejects(
      inlineRequest(request([{ role: 'user', content: [{ type: 'file', data: new Uint8Array([1, 2, 3]) }] }])),
      /cannot tell the type of the file messages\[0\]\.content\[0\] \(bytes given in memory\): give its mediaType/
    );
  });

  test("size limits: OpenAI's 20 MB per image (refused by its size, unread), Anthropic's 5 MB of base64 and 32 MB per request", async () => {
    const big = join(dir, 'big.png');
    writeFileSync(big, image);
    truncateSync(big, 21 * 1024 * 1024);
    await rejects(
      inlineRequest(request([{ role: 'user', content: [{ type: 'image', path: big }] }]), openai.media, 'openai'),
      /the image messages\[0\]\.content\[0\] \(.*big\.png\) is too large: it is 21\.0 MB, over openai's limit of 20\.0 MB per image/
    );
    const four = join(dir, 'four.png');
    writeFileSync(four, image);
    truncateSync(four, 4 * 1024 * 1024);
    await rejects(
      inlineRequest(
        request([{ role: 'user', content: [{ type: 'image', path: four }] }]),
        anthropic.media,
        'anthropic'
      ),
      /is too large: its base64 text is 5\.3 MB, over anthropic's limit of 5\.0 MB of base64 per image/
    );
    const twoImages = request([
      {
        role: 'user',
        content: [
          { type: 'image', path: photo },
          { type: 'image', path: photo },
        ],
      },
    ]);
    await rejects(
      inlineRequest(twoImages, { requestBase64Chars: b64.length + 1 }, 'anthropic'),
      /the request's images and files are too large together: .* over anthropic's limit of .* per request/
    );
    assert.equal(anthropic.media?.requestBase64Chars, 32 * 1024 * 1024);
  });

  test('OpenAI takes files inline only: a file by URL fails its row before sending', async () => {
    await rejects(
      inlineRequest(
        request([{ role: 'user', content: [{ type: 'file', url: 'https://x.test/a.pdf' }] }]),
        openai.media,
        'openai'
      ),
      /the file messages\[0\]\.content\[0\] is given by URL \(https:\/\/x\.test\/a\.pdf\), which openai does not fetch/
    );
  });

  test('in a shard, the row whose file is missing fails alone, named; the others are inlined', async () => {
    const curator = defineCurator({
      name: 'media-shard',
      model: 'gpt-4o-mini',
      prompt: (row: Row) => [{ role: 'user', content: [{ type: 'image', path: String(row.path) }] }],
    });
    const rows = [{ path: photo }, { path: join(dir, 'none.png') }, { path: photo }];
    const { requests, errors } = formatRequests(curator, rows, 10, [10, 11, 12]);
    await inlineRequests(requests, errors, openai.media, 'openai');
    assert.deepEqual([...requests.keys()], [10, 12]);
    assert.equal(errors.get(11)?.type, 'PromptError');
    assert.match(
      errors.get(11)!.message,
      /^row 11: cannot read the image messages\[0\]\.content\[0\] at .*none\.png: no such file/
    );
    assert.equal(errors.get(11)!.retryable, false);
  });

  test('the recorded request names files by path and inline bytes by their hash, never by megabytes', () => {
    const recorded = recordedRequest(
      request([
        {
          role: 'user',
          content: [
            { type: 'image', path: photo },
            { type: 'image', data: image },
          ],
        },
      ])
    );
    const text = JSON.stringify(recorded);
    assert.ok(text.includes(photo));
    assert.ok(!text.includes(b64.slice(0, 64)));
    assert.match(text, /"sha256":"[0-9a-f]{64}","bytes":\d+/);
  });
});

describe('prompt() checks', () => {
  const build = (messages: unknown) =>
    formatRequests(defineCurator({ name: 'c', model: 'gpt-4o-mini', prompt: () => messages as never }), [{}], 0, [0]);

  test('a bad part fails its row with a PromptError naming it', () => {
    const cases: [unknown, RegExp][] = [
      [
        [{ role: 'system', content: [{ type: 'image', url: 'https://x' }] }],
        /image part messages\[0\]\.content\[0\] is in a system message/,
      ],
      [
        [{ role: 'user', content: [{ type: 'image', url: 'https://x', path: 'a' }] }],
        /exactly one of url, path, data or base64, got url, path/,
      ],
      [
        [{ role: 'user', content: [{ type: 'image', path: 'a.png', detail: 'max' }] }],
        /detail "max": expected auto, low or high/,
      ],
      [[{ role: 'user', content: [{ type: 'image', base64: 'AAAA' }] }], /gives base64 without its mediaType/],
      [
        [{ role: 'user', content: [{ type: 'audio', path: 'a.wav' }] }],
        /has type "audio": expected text, image or file/,
      ],
      [[{ role: 'user', content: 42 }], /content: string or parts/],
    ];
    for (const [messages, pattern] of cases) {
      const { errors } = build(messages);
      assert.match(errors.get(0)?.message ?? '', pattern);
    }
    assert.equal(build([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]).errors.size, 0);
  });
});

describe('token estimates count images and files as the simulator does', () => {
  test('OpenAI: the tile formula by detail; Anthropic: width × height / 750; PDFs by pages', async () => {
    const header = { width: 1024, height: 1024 };
    const text = await inlineRequest(request([{ role: 'user', content: [{ type: 'text', text: 'What is this?' }] }]));
    const withImage = (detail?: 'low' | 'high') =>
      inlineRequest(
        request([
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image', path: photo, ...(detail ? { detail } : {}) },
            ],
          },
        ])
      );
    const base = openai.estimateInputTokens(text);
    assert.equal(openai.estimateInputTokens(await withImage('low')) - base, openaiImageTokens(header, 'low'));
    assert.equal(openai.estimateInputTokens(await withImage('high')) - base, openaiImageTokens(header, 'high'));
    assert.equal(openaiImageTokens(header, 'high'), 765);
    const anthropicBase = anthropic.estimateInputTokens(text);
    assert.equal(anthropic.estimateInputTokens(await withImage()) - anthropicBase, anthropicImageTokens(header));
    const withPdf = await inlineRequest(
      request([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'file', path: paper },
          ],
        },
      ])
    );
    assert.equal(openai.estimateInputTokens(withPdf) - base, 2 * 2000);
  });
});

describe('the run identity covers the bytes of local files', () => {
  test('text-only runs have none; a changed image changes the digest; an unchanged one is only stat-ed', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'media-digest-'));
    try {
      const img = join(dir, 'digest.png');
      writeFileSync(img, png(8, 8));
      const withImage = defineCurator({
        name: 'd',
        model: 'gpt-4o-mini',
        prompt: (row: Row) => [{ role: 'user', content: [{ type: 'image', path: String(row.path) }] }],
      });
      const textOnly = defineCurator({ name: 't', model: 'gpt-4o-mini', prompt: (row: Row) => String(row.path) });
      let reads = 0;
      const rows = () => {
        reads++;
        return (async function* () {
          yield { path: img };
          yield { path: img };
        })();
      };
      assert.equal(await mediaDigest(textOnly, rows, cache, 'text'), undefined);
      const first = await mediaDigest(withImage, rows, cache, 'img');
      assert.match(first ?? '', /^[0-9a-f]{32}$/);
      assert.equal(await mediaDigest(withImage, rows, cache, 'img'), first);
      assert.equal(reads, 2, 'the rows are read once per run identity');
      writeFileSync(img, png(9, 9));
      utimesSync(img, new Date(), new Date(Date.now() + 5000));
      const changed = await mediaDigest(withImage, rows, cache, 'img');
      assert.notEqual(changed, first);
      assert.equal(reads, 2);
      rmSync(img);
      const gone = await mediaDigest(withImage, rows, cache, 'img');
      assert.notEqual(gone, changed);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
