import { join } from "node:path";
import { BadRequestError } from "../errors.js";
import type { Sharing } from "./sharing.js";
import type { Store } from "./store.js";
import { PostgresStore } from "./postgres/postgres-store.js";
import { SqliteStore, type Durability } from "./sqlite/sqlite-store.js";

export interface StoreLocation {
  /** `sqlite:PATH`, a bare file path, `sqlite::memory:`, or a `postgres://` / `postgresql://` URL. */
  store?: string;
  /** Where the default SQLite file lives when `store` is not given. */
  dataDir?: string;
  /** SQLite only; PostgreSQL's durability is the server's own setting. */
  durability?: Durability;
}

const DEFAULT_DATA_DIR = "./wharf-data";

/** A store, and when other processes may share it, the means to coordinate with them. */
export interface OpenedStore {
  store: Store;
  sharing?: Sharing;
}

/** Opens the store a location names. SQLite is the default: `<dataDir>/wharf.db`. */
export async function openStore(location: StoreLocation): Promise<OpenedStore> {
  const spec = location.store ?? `sqlite:${join(location.dataDir ?? DEFAULT_DATA_DIR, "wharf.db")}`;
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const store = await PostgresStore.open({ url: spec });
    return { store, sharing: store.sharing };
  }
  const path = spec.startsWith("sqlite:") ? spec.slice("sqlite:".length) : spec;
  if (path.length === 0) throw new BadRequestError(`store "${spec}" names no file`);
  return { store: new SqliteStore({ path, durability: location.durability ?? "fsync" }) };
}
