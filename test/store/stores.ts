import { rmSync } from "node:fs";
import { join } from "node:path";
import { after } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import { SqliteStore, type Durability } from "../../src/store/sqlite/sqlite-store.js";
import type { Store } from "../../src/store/store.js";
import { createDatabase, startPostgres, type PostgresCluster } from "../helpers/postgres.js";
import { tempDir } from "../helpers/server.js";

export interface StoreHandle {
  store: Store;
  /** Whether several servers may open this store at once (PostgreSQL) or one process owns it (SQLite). */
  readonly shared: boolean;
  /** Closes `store` and opens it again on the same data. */
  reopen(): Promise<Store>;
  /** Another store on the same data, as a second server would open it; closed by dispose. */
  peer(): Promise<Store>;
  dispose(): Promise<void>;
  /** The store-only `owner` column of a job, read straight from the database (undefined when there is no such job). */
  ownerOf(id: string): Promise<string | null | undefined>;
}

export interface StoreFactory {
  name: string;
  /** A fresh, empty store and a way to dispose of it. */
  create(): Promise<StoreHandle>;
}

/** Opens stores on one place and closes them all at the end. */
function handleFor(
  shared: boolean,
  open: () => Promise<Store>,
  first: Store,
  cleanUp: () => void | Promise<void>,
  ownerOf: StoreHandle["ownerOf"],
): StoreHandle {
  const peers: Store[] = [];
  const handle: StoreHandle = {
    store: first,
    shared,
    async reopen() {
      await handle.store.close();
      handle.store = await open();
      return handle.store;
    },
    async peer() {
      const store = await open();
      peers.push(store);
      return store;
    },
    async dispose() {
      await Promise.all([handle.store, ...peers].map((store) => store.close()));
      await cleanUp();
    },
    ownerOf,
  };
  return handle;
}

let ownCluster: Promise<PostgresCluster> | undefined;

/** The cluster test/postgres-env.ts started, or one of this process's own when the file runs standalone. */
export async function postgresClusterUrl(): Promise<string> {
  const shared = process.env.WHARF_TEST_POSTGRES_URL;
  if (shared) return shared;
  ownCluster ??= startPostgres();
  return (await ownCluster).url;
}

after(async () => {
  if (ownCluster) await (await ownCluster).stop();
});

/** A SQLite store on a file of its own. */
function sqliteStore(durability: Durability): StoreFactory {
  return {
    name: durability === "buffered" ? "sqlite" : "sqlite (fsync)",
    async create() {
      const dir = tempDir("wharf-store-");
      const path = join(dir, "jobs.db");
      const open = async (): Promise<Store> => new SqliteStore({ path, durability });
      const ownerOf = async (id: string): Promise<string | null | undefined> => {
        const db = new Database(path, { readonly: true });
        try {
          return (db.prepare("SELECT owner FROM jobs WHERE id = ?").get(id) as { owner: string | null } | undefined)?.owner;
        } finally {
          db.close();
        }
      };
      return handleFor(false, open, await open(), () => rmSync(dir, { recursive: true, force: true }), ownerOf);
    },
  };
}

/** Every store the conformance suite runs against. */
export const STORES: StoreFactory[] = [
  sqliteStore("buffered"),
  // fsync acknowledges a write only once the WAL is synced (src/store/sqlite/wal-sync.ts): the same contract, another commit path.
  sqliteStore("fsync"),
  {
    name: "postgres",
    async create() {
      const url = await createDatabase(await postgresClusterUrl());
      // The cluster may have started moments ago: no waiting out its start before a gone server counts as gone.
      const open = (): Promise<Store> => PostgresStore.open({ url, poolSize: 5, livenessRestartGraceMs: 0 });
      const ownerOf = async (id: string): Promise<string | null | undefined> => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return (await client.query<{ owner: string | null }>("SELECT owner FROM jobs WHERE id = $1", [id])).rows[0]?.owner;
        } finally {
          await client.end();
        }
      };
      return handleFor(true, open, await open(), () => {}, ownerOf);
    },
  },
];
