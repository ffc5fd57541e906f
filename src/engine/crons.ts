import { ConflictError, NotFoundError } from "../errors.js";
import { defineEntry, defineGroup, nextDueAt, pauseEntry, pauseGroup, removeEntry } from "../cron/state.js";
import type { CronEntry, CronEntryDefinition, CronGroup, CronGroupDefinition } from "../cron/types.js";
import { checkGroupSize } from "../cron/validate.js";
import type { Store } from "../store/store.js";
import type { Clock } from "./clock.js";
import type { CronTicks } from "./services/cron-ticks.js";
import type { WritePath } from "./write-path.js";

/** Times a change is decided again from a fresh read when a tick or another request wrote the group first. */
const CHANGE_ATTEMPTS = 5;

type Change = (current: CronGroup | undefined, now: number) => CronGroup | undefined;

const groupNotFound = (name: string): NotFoundError => new NotFoundError(`cron group ${JSON.stringify(name)} not found`);
const entryNotFound = (group: string, entry: string): NotFoundError =>
  new NotFoundError(`cron entry ${JSON.stringify(entry)} not found in group ${JSON.stringify(group)}`);

function existing(current: CronGroup | undefined, name: string): CronGroup {
  if (!current) throw groupNotFound(name);
  return current;
}

function entryOf(group: CronGroup | undefined, groupName: string, entryName: string): CronEntry {
  const entry = group?.entries.find(({ name }) => name === entryName);
  if (!entry) throw entryNotFound(groupName, entryName);
  return entry;
}

/**
 * The cron API of the engine. Each change is decided by src/cron/state.ts from the group as read
 * and written fenced on that read's revision, so concurrent PUTs and ticks never overwrite each
 * other's schedule state: a change that lost the race is decided again from a fresh read.
 */
export class Crons {
  constructor(
    private readonly store: Store,
    private readonly writes: WritePath,
    private readonly clock: Clock,
    private readonly ticks: CronTicks,
  ) {}

  list(): Promise<string[]> {
    return this.store.listCronGroups();
  }

  async get(name: string): Promise<CronGroup> {
    return existing((await this.store.getCronGroup(name))?.group, name);
  }

  async getEntry(groupName: string, entryName: string): Promise<CronEntry> {
    return entryOf((await this.store.getCronGroup(groupName))?.group, groupName, entryName);
  }

  async put(name: string, definition: CronGroupDefinition): Promise<CronGroup> {
    return (await this.change(name, (current, now) => defineGroup(current, name, definition, now)))!;
  }

  async pause(name: string, paused: boolean): Promise<CronGroup> {
    return (await this.change(name, (current, now) => pauseGroup(existing(current, name), paused, now)))!;
  }

  async delete(name: string): Promise<void> {
    await this.change(name, (current) => void existing(current, name));
  }

  deleteAll(): Promise<number> {
    return this.store.deleteCronGroups();
  }

  async putEntry(groupName: string, definition: CronEntryDefinition): Promise<CronEntry> {
    const group = await this.change(groupName, (current, now) => defineEntry(current, groupName, definition, now));
    return entryOf(group, groupName, definition.name);
  }

  /** As putEntry, but 409 when the entry exists. */
  async addEntry(groupName: string, definition: CronEntryDefinition): Promise<CronEntry> {
    const group = await this.change(groupName, (current, now) => {
      if (current?.entries.some(({ name }) => name === definition.name)) {
        throw new ConflictError(`cron entry ${JSON.stringify(definition.name)} already exists in group ${JSON.stringify(groupName)}`);
      }
      return defineEntry(current, groupName, definition, now);
    });
    return entryOf(group, groupName, definition.name);
  }

  async pauseEntry(groupName: string, entryName: string, paused: boolean): Promise<CronEntry> {
    const group = await this.change(groupName, (current, now) => {
      entryOf(current, groupName, entryName);
      return pauseEntry(current!, entryName, paused, now);
    });
    return entryOf(group, groupName, entryName);
  }

  async deleteEntry(groupName: string, entryName: string): Promise<void> {
    await this.change(groupName, (current) => {
      entryOf(current, groupName, entryName);
      return removeEntry(current!, entryName);
    });
  }

  /** Reads the group, decides, and writes fenced on the read; again from a fresh read when the fence fails. */
  private async change(name: string, decide: Change): Promise<CronGroup | undefined> {
    for (let attempt = 0; attempt < CHANGE_ATTEMPTS; attempt++) {
      const stored = await this.store.getCronGroup(name);
      const group = decide(stored?.group, this.clock.now());
      if (!stored && !group) return undefined;
      if (group) checkGroupSize(group.entries.length);
      const due = group && nextDueAt(group);
      const outcome = await this.writes.writeCronGroup({ name, revision: stored?.revision, group, nextDueAt: due, jobs: [] });
      if (outcome.applied) {
        this.ticks.noteDue(due);
        return group;
      }
    }
    throw new ConflictError(`cron group ${JSON.stringify(name)} kept changing while it was being written; try again`);
  }
}
