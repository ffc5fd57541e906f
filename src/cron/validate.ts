/** Cron request bodies, checked whole before anything is stored: every problem is a 400 naming its field. */
import { BadRequestError } from "../errors.js";
import { badRequest, describe, parseEnqueueInput, readInteger, readObject, readString, rejectUnknownFields, type Fields } from "../job/validate.js";
import { checkSchedule } from "./schedule.js";
import type { CronEntryDefinition, CronGroupDefinition, CronJobTemplate } from "./types.js";

/** Entries one group may hold: a group is read and written whole on every tick. */
export const MAX_ENTRIES_PER_GROUP = 1000;
const MAX_NAME_LENGTH = 255;
const MAX_GRACE_MS = 366 * 24 * 3600 * 1000;

/** A group or entry name: 1 to 255 characters of NUL-free Unicode. */
export function isCronName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && name.isWellFormed() && !name.includes("\0");
}

export function readCronName(value: unknown, field: string): string {
  const name = readString(value, field, badRequest);
  // readString refused badly formed text and NUL: what is left to fail is the length.
  if (!isCronName(name)) throw new BadRequestError(`${field} must be 1 to ${MAX_NAME_LENGTH} characters`);
  return name;
}

/** A group that PUTs and POSTs of single entries would grow past the limit is refused. */
export function checkGroupSize(entries: number): void {
  if (entries > MAX_ENTRIES_PER_GROUP) throw new BadRequestError(`a cron group holds at most ${MAX_ENTRIES_PER_GROUP} entries`);
}

function readPaused(fields: Fields, where: string): boolean | undefined {
  if (fields.paused == null) return undefined;
  if (typeof fields.paused !== "boolean") throw new BadRequestError(`${where}paused must be a boolean, got ${describe(fields.paused)}`);
  return fields.paused;
}

function readJobTemplate(value: unknown, where: string): CronJobTemplate {
  const fields = readObject(value, where);
  if (fields.ready_at != null) throw new BadRequestError(`${where}.ready_at is not allowed: a tick's job is ready at its tick`);
  if (fields.batch != null) throw new BadRequestError(`${where}.batch is not allowed: a tick enqueues its own job, which folds with nothing`);
  if (fields.dependencies != null) throw new BadRequestError(`${where}.dependencies is not allowed: a tick's job waits for nothing`);
  if (fields.deadline != null) throw new BadRequestError(`${where}.deadline is not allowed: it is one moment, and a template makes a job at every tick`);
  return parseEnqueueInput(fields, where);
}

const ENTRY_FIELDS = ["name", "expression", "timezone", "paused", "grace_ms", "job"];

/** One entry; `prefix` names where it sits in the body ("entries[2]."; "" for a body that is the entry). */
export function parseCronEntry(value: unknown, prefix: string, now: number): CronEntryDefinition {
  const where = prefix === "" ? "request body" : prefix.slice(0, -1);
  const fields = readObject(value, where);
  rejectUnknownFields(fields, ENTRY_FIELDS, where);
  for (const required of ["name", "expression", "job"]) {
    if (fields[required] === undefined) throw new BadRequestError(`${prefix}${required} is required`);
  }
  const entry: CronEntryDefinition = {
    name: readCronName(fields.name, `${prefix}name`),
    expression: readString(fields.expression, `${prefix}expression`, badRequest).trim(),
    job: readJobTemplate(fields.job, `${prefix}job`),
  };
  if (fields.timezone != null) entry.timezone = readString(fields.timezone, `${prefix}timezone`, badRequest);
  checkSchedule(entry, prefix, now);
  const paused = readPaused(fields, prefix);
  if (paused !== undefined) entry.paused = paused;
  if (fields.grace_ms != null) entry.grace_ms = readInteger(fields.grace_ms, `${prefix}grace_ms`, 0, MAX_GRACE_MS, badRequest);
  return entry;
}

export function parseCronGroup(value: unknown, now: number): CronGroupDefinition {
  const fields = readObject(value, "request body");
  rejectUnknownFields(fields, ["paused", "entries"], "request body");
  if (!Array.isArray(fields.entries)) throw new BadRequestError(`entries must be an array, got ${describe(fields.entries)}`);
  checkGroupSize(fields.entries.length);
  const entries = fields.entries.map((entry, index) => parseCronEntry(entry, `entries[${index}].`, now));
  const names = new Set<string>();
  for (const [index, { name }] of entries.entries()) {
    if (names.has(name)) throw new BadRequestError(`entries[${index}].name ${JSON.stringify(name)} is given twice`);
    names.add(name);
  }
  const group: CronGroupDefinition = { entries };
  const paused = readPaused(fields, "");
  if (paused !== undefined) group.paused = paused;
  return group;
}

/** A PATCH of a group or an entry: `{"paused": boolean}`. */
export function parseCronPause(value: unknown): boolean {
  const fields = readObject(value, "request body");
  rejectUnknownFields(fields, ["paused"], "request body");
  const paused = readPaused(fields, "");
  if (paused === undefined) throw new BadRequestError("paused is required");
  return paused;
}
