/**
 * When an entry's ticks fall, computed by croner: 5- or 6-field expressions in an IANA time zone,
 * with Vixie cron's daylight-saving rules (a fixed time in a spring-forward gap runs once, just
 * after it; an interval entry runs in both passes through a fall-back hour, a fixed time once).
 */
import { Cron } from "croner";
import { BadRequestError } from "../errors.js";

/** Compiled expressions are kept, a bounded number of them, since every tick asks again. */
const COMPILED_LIMIT = 1000;
const compiled = new Map<string, Cron>();

export interface Schedule {
  expression: string;
  timezone?: string;
}

function compile({ expression, timezone }: Schedule): Cron {
  const key = `${expression}\u0000${timezone ?? ""}`;
  let cron = compiled.get(key);
  if (!cron) {
    cron = new Cron(expression, { mode: "5-or-6-parts", paused: true, ...(timezone === undefined ? {} : { timezone }) });
    if (compiled.size >= COMPILED_LIMIT) compiled.clear();
    compiled.set(key, cron);
  }
  return cron;
}

/** Refuses (400) an expression croner cannot read, that is not 5 or 6 fields, or that never fires; and an unknown time zone. */
/** `prefix` names where the fields sit in the body, as in "entries[2]." ("" at the top). */
export function checkSchedule(schedule: Schedule, prefix: string, now: number): void {
  const fields = schedule.expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new BadRequestError(`${prefix}expression must have 5 or 6 fields, got ${JSON.stringify(schedule.expression)}`);
  }
  if (schedule.timezone !== undefined && !isTimeZone(schedule.timezone)) {
    throw new BadRequestError(`${prefix}timezone ${JSON.stringify(schedule.timezone)} is not an IANA time zone`);
  }
  let cron: Cron;
  try {
    cron = compile(schedule);
  } catch (error) {
    throw new BadRequestError(`${prefix}expression ${JSON.stringify(schedule.expression)} is not a valid cron expression: ${(error as Error).message}`);
  }
  if (cron.nextRun(new Date(now)) === null) throw new BadRequestError(`${prefix}expression ${JSON.stringify(schedule.expression)} never fires`);
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return name.length > 0;
  } catch {
    return false;
  }
}

/** The first tick strictly after `after`. */
export function tickAfter(schedule: Schedule, after: number): number | undefined {
  return compile(schedule).nextRun(new Date(after))?.getTime();
}

/** The latest tick at or before `at`, if one falls at or after `since`. */
export function latestTickBetween(schedule: Schedule, since: number, at: number): number | undefined {
  const [latest] = compile(schedule).previousRuns(1, new Date(at + 1));
  const tick = latest?.getTime();
  return tick !== undefined && tick >= since ? tick : undefined;
}
