/**
 * What `wharf top` shows, as lines of text for a terminal of a given size: a header (server, versions,
 * uptime, jobs by status, where the cursor is in the list), tabs of in-flight, ready, scheduled and
 * dead jobs, the job under the cursor in a detail panel, and a function bar. Pure: the same view
 * always renders the same lines, so the screen is easy to reason about and to test.
 */
import { stringifyJson } from "../../job/json.js";
import type { Job, JobStatus } from "../../job/types.js";
import { relativeTime } from "../output.js";

export const TABS = [
  { status: "in_flight", title: "In flight" },
  { status: "ready", title: "Ready" },
  { status: "scheduled", title: "Scheduled" },
  { status: "dead", title: "Dead" },
] as const satisfies ReadonlyArray<{ status: JobStatus; title: string }>;

export type Mode = { kind: "list" } | { kind: "search"; typed: string } | { kind: "confirm-delete"; id: string };

export interface TopView {
  url: string;
  clientVersion: string;
  serverVersion: string | undefined;
  uptimeSeconds: number | undefined;
  counts: Partial<Record<JobStatus, number>>;
  tab: number;
  /** The jobs of the current tab that pass the search, in list order. */
  jobs: Job[];
  cursor: number;
  detail: Job | undefined;
  showDetail: boolean;
  search: string;
  mode: Mode;
  /** The last action's outcome, or the connection's trouble. */
  message: string;
  now: number;
}

const STATUSES: JobStatus[] = ["blocked", "scheduled", "ready", "in_flight", "completed", "dead"];

function fit(text: string, width: number): string {
  const line = text.replace(/[\r\n\t]/g, " ");
  return line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line.padEnd(width);
}

function duration(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return days > 0 ? `${days}d ${hours}h` : hours > 0 ? `${hours}h ${minutes}m` : `${minutes}m ${seconds % 60}s`;
}

function header(view: TopView, width: number): string[] {
  const server = view.serverVersion === undefined ? "connecting…" : `server ${view.serverVersion}, up ${view.uptimeSeconds === undefined ? "?" : duration(view.uptimeSeconds)}`;
  const counts = STATUSES.map((status) => `${status} ${view.counts[status] ?? "-"}`).join("   ");
  const tabs = TABS.map((tab, index) => (index === view.tab ? `[${tab.title} ${view.counts[tab.status] ?? ""}]` : ` ${tab.title} `)).join(" ");
  const total = view.counts[TABS[view.tab]!.status] ?? view.jobs.length;
  const depth = total === 0 ? "" : `  row ${Math.min(view.cursor + 1, view.jobs.length)} of ${view.jobs.length}${total > view.jobs.length ? ` (${total} in all)` : ""}`;
  return [
    fit(`wharf top ${view.clientVersion}  ${view.url}  ${server}`, width),
    fit(counts, width),
    fit(`${tabs}${view.search ? `   search: ${view.search}` : ""}${depth}`, width),
  ];
}

function jobRow(job: Job, now: number): string {
  const when = job.status === "in_flight" ? `lease ${relativeTime(job.lease_expires_at ?? now, now)}` : relativeTime(job.ready_at, now);
  return `${job.id}  ${job.queue.padEnd(16)}  ${job.type.padEnd(16)}  attempts ${String(job.attempts).padEnd(3)}  ${when}`;
}

function listLines(view: TopView, width: number, height: number): string[] {
  if (view.jobs.length === 0) return [fit(view.search ? "(no job matches the search)" : "(none)", width), ...Array<string>(Math.max(0, height - 1)).fill(" ".repeat(width))];
  const first = Math.min(Math.max(0, view.cursor - height + 1), Math.max(0, view.jobs.length - height));
  const lines = view.jobs.slice(first, first + height).map((job, offset) => `${first + offset === view.cursor ? ">" : " "} ${jobRow(job, view.now)}`);
  while (lines.length < height) lines.push("");
  return lines.map((line) => fit(line, width));
}

function detailLines(job: Job | undefined, width: number, height: number): string[] {
  const lines = job === undefined ? ["(no job)"] : [
    `id ${job.id}   queue ${job.queue}   type ${job.type}   status ${job.status}   priority ${job.priority}   attempts ${job.attempts}`,
    `ready_at ${new Date(job.ready_at).toISOString()}${job.lease_expires_at === undefined ? "" : `   lease until ${new Date(job.lease_expires_at).toISOString()}`}`,
    ...(job.progress === undefined ? [] : [`progress ${stringifyJson(job.progress)}`]),
    `payload ${stringifyJson(job.payload)}`,
  ];
  const shown = lines.slice(0, height);
  while (shown.length < height) shown.push("");
  return shown.map((line) => fit(line, width));
}

function functionBar(view: TopView): string {
  switch (view.mode.kind) {
    case "search":
      return `search (id, queue or type): ${view.mode.typed}_   Enter keep  Esc clear`;
    case "confirm-delete":
      return `delete job ${view.mode.id}? y delete, any other key keeps it`;
    case "list":
      return "Tab/Shift-Tab tabs  ↑↓ PgUp PgDn g G move  i detail  / search  r retry  d delete  q quit";
  }
}

/** The whole screen: exactly `rows` lines of exactly `columns` characters. */
export function renderTop(view: TopView, columns: number, rows: number): string[] {
  const width = Math.max(20, columns);
  const top = header(view, width);
  const bottom = [fit(view.message, width), fit(functionBar(view), width)];
  const room = Math.max(1, rows - top.length - bottom.length - 1);
  const detailHeight = view.showDetail ? Math.min(8, Math.floor(room / 2)) : 0;
  const body = [
    ...listLines(view, width, room - (detailHeight > 0 ? detailHeight + 1 : 0)),
    ...(detailHeight > 0 ? [fit("─".repeat(width), width), ...detailLines(view.detail, width, detailHeight)] : []),
  ];
  return [...top, fit("─".repeat(width), width), ...body, ...bottom].slice(0, rows);
}
