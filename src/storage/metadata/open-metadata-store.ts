/**
 * Chooses the metadata backend from the environment. Its own file so that neither backend imports the other: the
 * PostgreSQL store implements the interface that `metadata-store.ts` declares.
 */
import { SqliteMetadataStore, type MetadataStore } from './metadata-store';

/**
 * The metadata store a worker or the CLI uses: PostgreSQL at `CURATOR_DATABASE_URL` when set, else the SQLite file
 * at `sqlitePath` (the cache directory's `metadata.db`).
 */
export async function openMetadataStore(
  sqlitePath: string,
  env: NodeJS.ProcessEnv = process.env
): Promise<MetadataStore> {
  const url = env.CURATOR_DATABASE_URL;
  if (!url) return new SqliteMetadataStore(sqlitePath);
  // Loaded only when chosen: the embedded default never pays for the PostgreSQL client.
  // require, not import(): the CLI runs the sources through tsx's CommonJS hook, which leaves import() to Node.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PgMetadataStore } = require('./pg-metadata-store') as typeof import('./pg-metadata-store');
  return PgMetadataStore.open(url);
}
