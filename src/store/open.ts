import { join } from "node:path";
import { InvalidStoreError } from "../errors.js";
import type { Sharing } from "./sharing.js";
import type { Store } from "./store.js";
import { PostgresStore } from "./postgres/postgres-store.js";
import { SqliteStore, type Durability } from "./sqlite/sqlite-store.js";

export interface StoreLocation {
  /** `sqlite:PATH`, `sqlite::memory:`, or a `postgres://` / `postgresql://` URL. */
  store?: string;
  /** Where the default SQLite file lives when `store` is not given. */
  dataDir?: string;
  /** SQLite only; PostgreSQL's durability is the server's own setting. */
  durability?: Durability;
}

export type StoreSpec = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };

const DEFAULT_DATA_DIR = "./wharf-data";
const FORMS = "sqlite:PATH, sqlite::memory: or a postgres:// (postgresql://) URL";

/**
 * What a `--store` / `open({ store })` value names. Anything but the forms above is refused rather than
 * taken for a file name: `redis://x` must not quietly become a SQLite file in a directory called `redis:`.
 */
export function parseStoreSpec(spec: string): StoreSpec {
  if (/^postgres(ql)?:\/\//.test(spec)) return { kind: "postgres", url: spec };
  if (spec.startsWith("sqlite:")) {
    const path = spec.slice("sqlite:".length);
    if (path.length === 0) throw new InvalidStoreError(`store "${spec}" names no file: use ${FORMS}`);
    return { kind: "sqlite", path };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(spec)?.[1];
  const hint = scheme ? `"${scheme}" is not a store Wharf supports` : `for a SQLite file, write sqlite:${spec}`;
  throw new InvalidStoreError(`unsupported store "${spec}" (${hint}): use ${FORMS}`);
}

/** The store a location names; SQLite is the default: `<dataDir>/wharf.db`. Throws InvalidStoreError for anything else. */
export function storeSpecOf(location: StoreLocation): StoreSpec {
  return parseStoreSpec(location.store ?? `sqlite:${join(location.dataDir ?? DEFAULT_DATA_DIR, "wharf.db")}`);
}

/** A store, and when other processes may share it, the means to coordinate with them. */
export interface OpenedStore {
  store: Store;
  sharing?: Sharing;
}

/**
 * Opens the store a location names. A SQLite file is taken for this store alone (StoreInUseError when
 * another process or store has it); `:memory:` is private anyway.
 */
export async function openStore(location: StoreLocation): Promise<OpenedStore> {
  const spec = storeSpecOf(location);
  if (spec.kind === "postgres") {
    const store = await PostgresStore.open({ url: spec.url });
    return { store, sharing: store };
  }
  return { store: new SqliteStore({ path: spec.path, durability: location.durability ?? "fsync" }) };
}
