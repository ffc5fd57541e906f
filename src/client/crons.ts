import type { CronEntry, CronEntryDefinition, CronGroup, CronGroupDefinition } from "../cron/types.js";
import type { QueryValue } from "./transport.js";

type Call = <T>(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown) => Promise<T>;

/** Cron groups (`client.crons`): define recurring jobs once at start with `put`; every replica may do so. */
export class CronClient {
  constructor(private readonly call: Call) {}

  /** Group names, sorted. */
  async list(): Promise<string[]> {
    return (await this.call<{ crons: string[] }>("GET", "/crons")).crons;
  }

  get(group: string): Promise<CronGroup> {
    return this.call("GET", groupPath(group));
  }

  /** Defines a whole group, idempotently: unchanged entries keep their schedule state, missing ones are removed. */
  put(group: string, definition: CronGroupDefinition): Promise<CronGroup> {
    return this.call("PUT", groupPath(group), undefined, definition);
  }

  pause(group: string): Promise<CronGroup> {
    return this.call("PATCH", groupPath(group), undefined, { paused: true });
  }

  resume(group: string): Promise<CronGroup> {
    return this.call("PATCH", groupPath(group), undefined, { paused: false });
  }

  async delete(group: string): Promise<void> {
    await this.call("DELETE", groupPath(group));
  }

  /** Deletes every group; returns how many there were. */
  async deleteAll(): Promise<number> {
    return (await this.call<{ deleted: number }>("DELETE", "/crons")).deleted;
  }

  getEntry(group: string, entry: string): Promise<CronEntry> {
    return this.call("GET", entryPath(group, entry));
  }

  /** Defines one entry (creating its group if need be), idempotently. */
  putEntry(group: string, definition: CronEntryDefinition): Promise<CronEntry> {
    return this.call("PUT", entryPath(group, definition.name), undefined, definition);
  }

  /** Adds one entry; ConflictError when the group has one of that name. */
  addEntry(group: string, definition: CronEntryDefinition): Promise<CronEntry> {
    return this.call("POST", `${groupPath(group)}/entries`, undefined, definition);
  }

  pauseEntry(group: string, entry: string): Promise<CronEntry> {
    return this.call("PATCH", entryPath(group, entry), undefined, { paused: true });
  }

  resumeEntry(group: string, entry: string): Promise<CronEntry> {
    return this.call("PATCH", entryPath(group, entry), undefined, { paused: false });
  }

  async deleteEntry(group: string, entry: string): Promise<void> {
    await this.call("DELETE", entryPath(group, entry));
  }
}

function groupPath(group: string): string {
  return `/crons/${encodeURIComponent(group)}`;
}

function entryPath(group: string, entry: string): string {
  return `${groupPath(group)}/entries/${encodeURIComponent(entry)}`;
}
