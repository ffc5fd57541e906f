/**
 * Every change to a cron group, as pure functions of the group as read and the time: what a PUT,
 * a PATCH or a tick makes of it. The engine commits the result fenced on the revision it read, so
 * a change decided from a stale group never lands (src/engine/crons.ts, services/cron-ticks.ts).
 */
import { stringifyJson } from "../job/json.js";
import type { EnqueueInput } from "../job/types.js";
import { latestTickBetween, tickAfter } from "./schedule.js";
import type { CronEntry, CronEntryDefinition, CronGroup, CronGroupDefinition } from "./types.js";

/** Moves `paused` and stamps the change; setting it to what it is changes nothing. */
function withPaused<T extends { paused: boolean; paused_at?: number; resumed_at?: number }>(current: T, paused: boolean | undefined, now: number): T {
  if (paused === undefined || paused === current.paused) return current;
  return paused ? { ...current, paused, paused_at: now } : { ...current, paused, resumed_at: now };
}

/** What decides an entry's ticks and jobs: an entry whose definition this is unchanged keeps its schedule state. */
function definitionKey({ expression, timezone, grace_ms, job }: CronEntryDefinition): string {
  return stringifyJson([expression, timezone ?? null, grace_ms ?? null, job]);
}

function newEntry(definition: CronEntryDefinition, now: number): CronEntry {
  const entry: CronEntry = { ...definition, paused: definition.paused ?? false };
  if (entry.paused) entry.paused_at = now;
  const next = tickAfter(entry, now);
  if (next !== undefined) entry.next_enqueue_at = next;
  return entry;
}

/** An entry as a definition makes it: the current one kept (but for pausing) when its definition is unchanged, else replaced. */
function definedEntry(current: CronEntry | undefined, definition: CronEntryDefinition, now: number): CronEntry {
  if (!current) return newEntry(definition, now);
  if (definitionKey(current) === definitionKey(definition)) return withPaused(current, definition.paused, now);
  return newEntry({ ...definition, paused: definition.paused ?? current.paused }, now);
}

function emptyGroup(name: string): CronGroup {
  return { name, paused: false, entries: [] };
}

/** A whole group as PUT defines it: unchanged entries keep their state, others are replaced or added, the rest removed. */
export function defineGroup(current: CronGroup | undefined, name: string, definition: CronGroupDefinition, now: number): CronGroup {
  const byName = new Map(current?.entries.map((entry) => [entry.name, entry]));
  const group = withPaused(current ?? emptyGroup(name), definition.paused, now);
  return { ...group, entries: definition.entries.map((entry) => definedEntry(byName.get(entry.name), entry, now)) };
}

/** One entry as PUT (or POST) defines it, in a group that is created when it does not exist. */
export function defineEntry(current: CronGroup | undefined, name: string, definition: CronEntryDefinition, now: number): CronGroup {
  const group = current ?? emptyGroup(name);
  const existing = group.entries.find((entry) => entry.name === definition.name);
  const entry = definedEntry(existing, definition, now);
  const entries = existing ? group.entries.map((other) => (other === existing ? entry : other)) : [...group.entries, entry];
  return { ...group, entries };
}

export function pauseGroup(group: CronGroup, paused: boolean, now: number): CronGroup {
  return withPaused(group, paused, now);
}

export function pauseEntry(group: CronGroup, entryName: string, paused: boolean, now: number): CronGroup {
  return { ...group, entries: group.entries.map((entry) => (entry.name === entryName ? withPaused(entry, paused, now) : entry)) };
}

export function removeEntry(group: CronGroup, entryName: string): CronGroup {
  return { ...group, entries: group.entries.filter((entry) => entry.name !== entryName) };
}

/** When the group is next due: its earliest tick, paused entries included (their time moves on too). */
export function nextDueAt(group: CronGroup): number | undefined {
  let earliest: number | undefined;
  for (const { next_enqueue_at: next } of group.entries) {
    if (next !== undefined && (earliest === undefined || next < earliest)) earliest = next;
  }
  return earliest;
}

export interface TickedGroup {
  group: CronGroup;
  /** One per entry that fired, ready at its tick. */
  jobs: EnqueueInput[];
}

/**
 * The group after every tick due by `now`. Each due entry fires once at most, for its latest missed
 * tick, however many passed (after downtime: one job, never a burst); not while it or its group is
 * paused, nor when that tick is older than the entry's grace window. Its next tick is the first after now.
 */
export function tickGroup(group: CronGroup, now: number): TickedGroup {
  const jobs: EnqueueInput[] = [];
  const entries = group.entries.map((entry) => {
    if (entry.next_enqueue_at === undefined || entry.next_enqueue_at > now) return entry;
    const tick = latestTickBetween(entry, entry.next_enqueue_at, now) ?? entry.next_enqueue_at;
    const ticked: CronEntry = { ...entry };
    const next = tickAfter(entry, now);
    if (next === undefined) delete ticked.next_enqueue_at;
    else ticked.next_enqueue_at = next;
    const withinGrace = entry.grace_ms === undefined || now - tick <= entry.grace_ms;
    if (group.paused || entry.paused || !withinGrace) return ticked;
    jobs.push({ ...entry.job, ready_at: tick });
    ticked.last_enqueue_at = now;
    return ticked;
  });
  return { group: { ...group, entries }, jobs };
}
