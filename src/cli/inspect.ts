/**
 * The read-only commands over past runs: runs, show, export. They read the run metadata (metadata.db, or PostgreSQL
 * when `CURATOR_DATABASE_URL` is set) and the cache, or the object store of `CURATOR_STORAGE` for a dataset kept there.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { REUSED_EVENT } from '../requests/reuse';
import { LIMITS_PROBE_EVENT } from '../limits/limits-probe';
import { openObjectStore } from '../storage/object-store/storage-location';
import { readArrowRows } from '../storage/arrow';
import { CacheLayout, defaultCacheDir } from '../storage/cache-dir';
import { writeParquetFromArrow } from '../storage/parquet';
import type { RunRecord } from '../storage/metadata-db';
import type { MetadataStore } from '../storage/metadata/metadata-store';
import { openMetadataStore } from '../storage/metadata/open-metadata-store';

export function openMetadata(cacheDir?: string): Promise<MetadataStore> {
  return openMetadataStore(new CacheLayout(cacheDir ?? defaultCacheDir()).metadataDb);
}

/** A run by its hash or any unique prefix of it, as git does for commits. */
export async function findRun(db: MetadataStore, hash: string): Promise<RunRecord> {
  const matches = (await db.listRuns(10_000)).filter((r) => r.run_hash.startsWith(hash));
  if (matches.length === 1) return matches[0];
  throw new Error(
    matches.length ? `'${hash}' matches ${matches.length} runs; give more characters` : `no run '${hash}'`
  );
}

export function formatRuns(runs: RunRecord[]): string {
  if (runs.length === 0) return 'no runs yet';
  const header = ['run', 'curator', 'model', 'status', 'requests', 'ok', 'failed', 'rows', 'edited'];
  const rows = runs.map((r) => [
    r.run_hash.slice(0, 12),
    r.curator_name,
    r.model_name,
    r.status,
    String(r.total_requests),
    String(r.succeeded_requests),
    String(r.failed_requests),
    String(r.output_rows),
    r.last_edited_time.replace('T', ' ').slice(0, 19),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

export async function formatRun(db: MetadataStore, run: RunRecord): Promise<string> {
  const lines = Object.entries(run)
    .filter(([k]) => k !== 'prompt_func')
    .map(([k, v]) => `${k.padEnd(24)} ${v === null ? '' : String(v)}`);
  const events = (await db.events(run.run_hash)).map(
    (e) =>
      `  ${e.at}  ${e.event}  ${e.workflow_id ?? ''}${(e.event === REUSED_EVENT || e.event === LIMITS_PROBE_EVENT) && e.detail ? `  ${e.detail}` : ''}`
  );
  return [...lines, `${'prompt_func'.padEnd(24)} ${run.prompt_func.split('\n')[0]}…`, 'history:', ...events].join('\n');
}

export async function exportRun(run: RunRecord, format: string, output: string): Promise<number> {
  if (!run.dataset_path) throw new Error(`run ${run.run_hash} has no dataset yet (status ${run.status})`);
  if (!run.dataset_path.startsWith('s3://')) return exportDataset(run.dataset_path, run.output_rows, format, output);
  // Kept in the object store: downloaded (streamed) to a scratch file first, as the Arrow readers seek.
  const scratch = await mkdtemp(join(tmpdir(), 'curator-export-'));
  try {
    const local = join(scratch, 'dataset.arrow');
    await downloadDataset(run.dataset_path, local);
    return await exportDataset(local, run.output_rows, format, output);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Downloads an `s3://` dataset of the store named by `CURATOR_STORAGE` (with the `AWS_*` variables). */
async function downloadDataset(uri: string, to: string): Promise<void> {
  if (!process.env.CURATOR_STORAGE) {
    throw new Error(`the dataset is in ${uri}: set CURATOR_STORAGE (and the AWS_* variables) as for the workers`);
  }
  const store = await openObjectStore(defaultCacheDir(), process.env);
  try {
    const root = `${store.location}/`;
    const body = uri.startsWith(root) ? await store.read(uri.slice(root.length)) : undefined;
    if (!body) throw new Error(`the dataset ${uri} is not in the store ${store.location} (CURATOR_STORAGE)`);
    await pipeline(Readable.from(body), createWriteStream(to));
  } finally {
    await store.close();
  }
}

async function exportDataset(path: string, rows: number, format: string, output: string): Promise<number> {
  if (format === 'arrow') {
    await copyFile(path, resolve(output));
    return rows;
  }
  if (format === 'parquet') {
    return (await writeParquetFromArrow(path, resolve(output))).rows;
  }
  if (format !== 'jsonl') throw new Error(`unknown format '${format}': use jsonl, parquet or arrow`);
  const out = createWriteStream(resolve(output));
  let written = 0;
  for await (const row of readArrowRows(path)) {
    const line = JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
    if (!out.write(line)) await once(out, 'drain');
    written++;
  }
  out.end();
  await once(out, 'finish');
  return written;
}
