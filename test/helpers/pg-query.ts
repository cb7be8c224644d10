/** One query on a connection of its own: how tests read what the workers wrote in PostgreSQL. */
import pg from 'pg';

export async function pgQuery<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = []
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
