/** Cron groups as the API answers them: each entry's job shows the priority (and unique scope) its jobs get. */
import { DEFAULT_PRIORITY } from "../job/types.js";
import type { CronEntry, CronGroup, CronJobTemplate } from "./types.js";

function jobView(job: CronJobTemplate): CronJobTemplate {
  const view: CronJobTemplate = { ...job, priority: job.priority ?? DEFAULT_PRIORITY };
  if (job.unique_key !== undefined) view.unique_while = job.unique_while ?? "queued";
  return view;
}

export function cronEntryView(entry: CronEntry): CronEntry {
  return { ...entry, job: jobView(entry.job) };
}

export function cronGroupView(group: CronGroup): CronGroup {
  return { ...group, entries: group.entries.map(cronEntryView) };
}
