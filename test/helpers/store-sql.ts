/**
 * Changes a job in a test server's database behind the server's back, as someone with access to the
 * SQLite file or the PostgreSQL database could: what the server and workers must notice by themselves.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import type { TestServer } from "./server.js";

/** Sets one column of job `id` to `value` (payload and other JSON columns take JSON text). */
export async function setJobColumn(server: TestServer, id: string, column: string, value: string | number | null): Promise<void> {
  if (!/^[a-z_]+$/.test(column)) throw new Error(`not a column name: ${column}`);
  if (server.store === undefined) {
    const db = new Database(join(server.dataDir, "wharf.db"));
    try {
      const { changes } = db.prepare(`UPDATE jobs SET ${column} = ? WHERE id = ?`).run(value, id);
      if (changes !== 1) throw new Error(`no job ${id} in the SQLite file`);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: server.store });
  await client.connect();
  try {
    const { rowCount } = await client.query(`UPDATE jobs SET ${column} = $1 WHERE id = $2`, [value, id]);
    if (rowCount !== 1) throw new Error(`no job ${id} in the PostgreSQL database`);
  } finally {
    await client.end();
  }
}
