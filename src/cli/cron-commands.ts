/** `wharf cron ...`: cron groups on a server, defined from a JSON or YAML file. */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { CronEntry, CronGroup, CronGroupDefinition } from "../cron/types.js";
import { parseJson } from "../job/json.js";
import { confirm, type ConfirmOptions } from "./confirm.js";
import { remote, type RemoteOptions } from "./commands.js";
import { relativeTime, type Column, type Output } from "./output.js";
import { UsageError } from "./usage.js";

type EntryRow = CronEntry & { group: string };

const ENTRY_COLUMNS: Array<Column<EntryRow>> = [
  { header: "GROUP", cell: (row) => row.group },
  { header: "ENTRY", cell: (row) => row.name },
  { header: "EXPRESSION", cell: (row) => row.expression },
  { header: "TIMEZONE", cell: (row) => row.timezone ?? "(server)" },
  { header: "PAUSED", cell: (row) => (row.paused ? "yes" : "no") },
  { header: "NEXT", cell: (row) => (row.next_enqueue_at === undefined ? "never" : relativeTime(row.next_enqueue_at)) },
  { header: "LAST", cell: (row) => (row.last_enqueue_at === undefined ? "" : relativeTime(row.last_enqueue_at)) },
  { header: "QUEUE", cell: (row) => row.job.queue },
  { header: "TYPE", cell: (row) => row.job.type },
];

/** Groups as one JSON line each, or one table of every entry. */
function printGroups(out: Output, groups: CronGroup[]): void {
  if (out.json) {
    for (const group of groups) out.record(group);
    return;
  }
  out.rows(groups.flatMap((group) => group.entries.map((entry) => ({ ...entry, group: group.name }))), ENTRY_COLUMNS);
  for (const group of groups) if (group.paused) out.notice(`group ${group.name} is paused: none of its entries enqueues`);
}

export function list(options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => {
    const groups = await Promise.all((await wharf.crons.list()).map((name) => wharf.crons.get(name)));
    printGroups(out, groups);
  });
}

export function get(group: string, entry: string | undefined, options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => {
    if (entry === undefined) printGroups(out, [await wharf.crons.get(group)]);
    else out.record(await wharf.crons.getEntry(group, entry));
  });
}

/** A group definition from FILE (`-`: standard input): JSON, or YAML. */
function readDefinition(file: string): CronGroupDefinition {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new UsageError(`FILE: cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return parseJson(text) as CronGroupDefinition;
  } catch {
    try {
      return parseYaml(text) as CronGroupDefinition;
    } catch (error) {
      throw new UsageError(`FILE: ${file} is neither JSON nor YAML: ${(error as Error).message.split("\n")[0]}`);
    }
  }
}

export function put(group: string, file: string, options: RemoteOptions): Promise<void> {
  const definition = readDefinition(file);
  return remote(options, async (wharf, out) => printGroups(out, [await wharf.crons.put(group, definition)]));
}

export function pause(paused: boolean, group: string, entry: string | undefined, options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => {
    if (entry !== undefined) return out.record(paused ? await wharf.crons.pauseEntry(group, entry) : await wharf.crons.resumeEntry(group, entry));
    printGroups(out, [paused ? await wharf.crons.pause(group) : await wharf.crons.resume(group)]);
  });
}

export function remove(group: string, entry: string | undefined, options: RemoteOptions & ConfirmOptions): Promise<void> {
  return remote(options, async (wharf, out) => {
    await confirm(entry === undefined ? `delete cron group ${group} and its entries` : `delete entry ${entry} of cron group ${group}`, options);
    if (entry === undefined) await wharf.crons.delete(group);
    else await wharf.crons.deleteEntry(group, entry);
    out.record(entry === undefined ? { deleted: group } : { deleted: `${group}/${entry}` });
  });
}
