import { Engine, type EngineOptions } from "./engine/engine.js";
import { openStore, type StoreLocation } from "./store/open.js";

export interface OpenEngineOptions extends StoreLocation, Omit<EngineOptions, "store" | "sharing"> {}

/**
 * Puts Wharf together: opens the store a location names and the engine on it, coordinating with
 * other processes when the store is shared. The server, open() and the CLI all start here.
 */
export async function openEngine(options: OpenEngineOptions): Promise<Engine> {
  const { store: location, dataDir, durability, ...engineOptions } = options;
  const { store, sharing } = await openStore({ store: location, dataDir, durability });
  try {
    return await Engine.open({ ...engineOptions, store, ...(sharing ? { sharing } : {}) });
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}
