import { join } from "node:path";
import { BadRequestError } from "../errors.js";
import type { Store } from "./store.js";
import { SqliteStore, type Durability } from "./sqlite/sqlite-store.js";

export interface StoreLocation {
  /** `sqlite:PATH`, a bare file path, or `sqlite::memory:`. */
  store?: string;
  /** Where the default SQLite file lives when `store` is not given. */
  dataDir?: string;
  durability?: Durability;
}

export const DEFAULT_DATA_DIR = "./wharf-data";

/** Opens the store a location names. SQLite is the default: `<dataDir>/wharf.db`. */
export function openStore(location: StoreLocation): Store {
  const spec = location.store ?? `sqlite:${join(location.dataDir ?? DEFAULT_DATA_DIR, "wharf.db")}`;
  if (/^postgres(ql)?:\/\//.test(spec)) {
    throw new BadRequestError("the PostgreSQL store is not available in this version; use sqlite:PATH");
  }
  const path = spec.startsWith("sqlite:") ? spec.slice("sqlite:".length) : spec;
  if (path.length === 0) throw new BadRequestError(`store "${spec}" names no file`);
  return new SqliteStore({ path, durability: location.durability ?? "fsync" });
}
