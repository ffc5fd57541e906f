/** A cron group's row in either store: the group as one JSON document, so payloads keep every digit and key order. */
import { randomInt } from "node:crypto";
import type { CronGroup } from "../cron/types.js";
import { parseJson, stringifyJson } from "../job/json.js";
import type { CronGroupWrite, StoredCronGroup } from "./store.js";

export interface CronGroupRow {
  document: string;
  revision: number;
}

export function cronGroupDocument(group: CronGroup): string {
  return stringifyJson(group);
}

export function rowToCronGroup(row: CronGroupRow): StoredCronGroup {
  return { group: parseJson(row.document) as CronGroup, revision: Number(row.revision) };
}

export type CronWriteStatement = "insertCronGroup" | "updateCronGroup" | "deleteCronGroup";

/**
 * The one fenced statement a CronGroupWrite takes, named by its key in the store's SQL, with its
 * parameters in that statement's order; none when there is nothing to fence (deleting a group that
 * was not there). Each write stores a fresh random revision rather than the old one plus one, so a
 * group deleted and defined again never repeats a revision a stale writer may still hold.
 */
export function cronWriteStatement({ name, revision, group, nextDueAt }: CronGroupWrite): { statement: CronWriteStatement; values: unknown[] } | undefined {
  const next = nextDueAt ?? null;
  if (revision === undefined) return group ? { statement: "insertCronGroup", values: [name, cronGroupDocument(group), next, newRevision()] } : undefined;
  if (!group) return { statement: "deleteCronGroup", values: [name, revision] };
  return { statement: "updateCronGroup", values: [cronGroupDocument(group), next, newRevision(), name, revision] };
}

function newRevision(): number {
  return randomInt(1, 2 ** 48);
}
