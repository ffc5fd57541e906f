import { rmSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

export interface StoreFactory {
  name: string;
  /** A fresh, empty store and a way to dispose of it. */
  create(): Promise<{ store: Store; reopen(): Promise<Store>; dispose(): Promise<void> }>;
}

/** Every store the conformance suite runs against. */
export const STORES: StoreFactory[] = [
  {
    name: "sqlite",
    async create() {
      const dir = tempDir("wharf-store-");
      const path = join(dir, "jobs.db");
      let store: Store = new SqliteStore({ path, durability: "buffered" });
      return {
        store,
        async reopen() {
          await store.close();
          store = new SqliteStore({ path, durability: "buffered" });
          return store;
        },
        async dispose() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];
