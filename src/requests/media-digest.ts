/**
 * The media part of a run's identity: the content of every local file the prompts read (images and files given by
 * path), hashed, so that a changed image is a new run and so a new request (with `reuseAnswers`, the only one of the
 * run sent again). Rows carry paths and the fingerprint carries hashes, never the bytes.
 *
 * Finding the paths means running `prompt` over every row, once per run identity (the prompt's source and the
 * dataset); the paths and each file's size, time and hash are then kept under the cache's `media/` folder, so a
 * rerun only stats the files and hashes again just those whose size or time moved, as the dataset's own check does.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Curator, Row } from '../curator';
import { sha256File } from '../storage/arrow';
import { INVALID_ROW_KEY } from '../storage/dataset';
import { sha256, stableStringify } from '../storage/fingerprint';
import { ensureDir, writeFileAtomic } from '../storage/jsonl';

/** One local file a run's prompts read, as last seen. */
interface MediaFile {
  path: string;
  size: number;
  mtimeMs: number;
  /** Its content's SHA-256; `null` when it is missing (its row fails alone, and its appearing changes the digest). */
  sha256: string | null;
}

/**
 * The local paths of images and files in the prompts of `rows`. `prompt` is called bare, without the checks of the
 * format stage (a row whose prompt fails or is malformed fails there, and reads nothing): this pass sees every row.
 */
async function localPaths(curator: Curator, rows: AsyncIterable<Row>): Promise<string[]> {
  const paths = new Set<string>();
  for await (const row of rows) {
    if (typeof row[INVALID_ROW_KEY] === 'string') continue;
    let prompt: unknown;
    try {
      prompt = curator.prompt(row as never);
    } catch {
      continue;
    }
    if (!Array.isArray(prompt)) continue;
    for (const message of prompt as { content?: unknown }[]) {
      if (!Array.isArray(message?.content)) continue;
      for (const part of message.content as { type?: unknown; path?: unknown }[]) {
        if ((part?.type === 'image' || part?.type === 'file') && typeof part.path === 'string')
          paths.add(resolve(part.path));
      }
    }
  }
  return [...paths].sort();
}

/** The file as it is now: its earlier hash when its size and time did not move, else hashed again. */
async function seen(path: string, before: MediaFile | undefined): Promise<MediaFile> {
  const now = await stat(path).catch(() => undefined);
  if (!now?.isFile()) return before?.size === -1 ? before : { path, size: -1, mtimeMs: -1, sha256: null };
  if (before?.sha256 && before.size === now.size && before.mtimeMs === now.mtimeMs) return before;
  return { path, size: now.size, mtimeMs: now.mtimeMs, sha256: await sha256File(path) };
}

/**
 * The digest of the local files the prompts of a run read, or `undefined` when they read none (text-only runs keep
 * their fingerprints). `identity` names the run without its media (see `runFingerprint`); `rows` is read only the
 * first time an identity is seen.
 */
export async function mediaDigest(
  curator: Curator,
  rows: () => AsyncIterable<Row>,
  cacheRoot: string,
  identity: string
): Promise<string | undefined> {
  const memo = join(cacheRoot, 'media', `${identity}.json`);
  const known = (await readFile(memo, 'utf8').then(
    (text) => (JSON.parse(text) as { files: MediaFile[] }).files,
    () => undefined
  )) as MediaFile[] | undefined;
  const before =
    known ?? (await localPaths(curator, rows())).map((path) => ({ path, size: -1, mtimeMs: -1, sha256: null }));
  const files: MediaFile[] = [];
  for (const file of before) files.push(await seen(file.path, file));
  if (known === undefined || files.some((f, k) => f !== before[k])) {
    await ensureDir(join(cacheRoot, 'media'));
    await writeFileAtomic(memo, JSON.stringify({ files }));
  }
  if (files.length === 0) return undefined;
  return sha256(stableStringify(files.map((f) => [f.path, f.sha256]))).slice(0, 32);
}
