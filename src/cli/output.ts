/**
 * What the CLI prints: JSON lines for scripts (with --json, or whenever stdout is not a terminal),
 * aligned tables and human times for people. Notices go to stderr so they never mix with JSON.
 */
import { stringifyJson } from "../job/json.js";
import type { Job } from "../index.js";
import { JOB_STATUSES, type JobError, type JobStatus } from "../job/types.js";
import type { WorkerView } from "../engine/worker-registry.js";

export interface Column<T> {
  header: string;
  cell: (item: T) => string;
}

const TIME_FIELDS = new Set(["ready_at", "dequeued_at", "failed_at", "completed_at", "purge_at", "lease_expires_at"]);
const UNITS: Array<[string, number]> = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]];
const MAX_CELL = 48;

function pad(number: number): string {
  return String(number).padStart(2, "0");
}

/** Local time, to the second: 2026-12-02 03:04:05. */
export function localTime(ms: number): string {
  const date = new Date(ms);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** "in 5m", "2h ago", "now"; past a month, the local date and time. */
export function relativeTime(ms: number, now = Date.now()): string {
  const delta = ms - now;
  const distance = Math.abs(delta);
  if (distance < 1000) return "now";
  if (distance >= 30 * 86_400_000) return localTime(ms);
  const [unit, size] = UNITS.find(([, unitMs]) => distance >= unitMs)!;
  const amount = `${Math.floor(distance / size)}${unit}`;
  return delta > 0 ? `in ${amount}` : `${amount} ago`;
}

function shorten(text: string): string {
  const line = text.split("\n")[0]!;
  return line.length > MAX_CELL || line !== text ? `${line.slice(0, MAX_CELL - 1)}…` : line;
}

function fieldText(key: string, value: unknown): string {
  if (TIME_FIELDS.has(key) && typeof value === "number") return `${relativeTime(value)} (${localTime(value)})`;
  return typeof value === "string" ? value : stringifyJson(value);
}

export const JOB_COLUMNS: Array<Column<Job>> = [
  { header: "ID", cell: (job) => job.id },
  { header: "QUEUE", cell: (job) => shorten(job.queue) },
  { header: "TYPE", cell: (job) => shorten(job.type) },
  { header: "STATUS", cell: (job) => job.status },
  { header: "PRIORITY", cell: (job) => String(job.priority) },
  { header: "ATTEMPTS", cell: (job) => String(job.attempts) },
  { header: "READY", cell: (job) => relativeTime(job.ready_at) },
  { header: "PAYLOAD", cell: (job) => shorten(stringifyJson(job.payload)) },
];

export const ERROR_COLUMNS: Array<Column<JobError>> = [
  { header: "ATTEMPT", cell: (error) => String(error.attempt) },
  { header: "FAILED", cell: (error) => relativeTime(error.failed_at) },
  { header: "TYPE", cell: (error) => error.error_type ?? "" },
  { header: "MESSAGE", cell: (error) => shorten(error.message) },
];

export const WORKER_COLUMNS: Array<Column<WorkerView>> = [
  { header: "WORKER", cell: (worker) => shorten(worker.worker_id ?? "(no Worker-Id)") },
  { header: "QUEUES", cell: (worker) => shorten(worker.queues?.join(",") ?? "*") },
  { header: "IN FLIGHT", cell: (worker) => `${worker.in_flight}/${worker.prefetch === 0 ? "∞" : worker.prefetch}` },
  { header: "DONE", cell: (worker) => String(worker.completed) },
  { header: "FAILED", cell: (worker) => String(worker.failed) },
  { header: "CONNECTED", cell: (worker) => relativeTime(worker.connected_at) },
  { header: "STATUS", cell: (worker) => worker.report?.status ?? "" },
  { header: "LANGUAGE", cell: (worker) => shorten(worker.report?.language ?? "") },
  { header: "MEMORY", cell: (worker) => (worker.report?.memory_mb === undefined ? "" : `${worker.report.memory_mb} MB`) },
];

export type QueueCounts = { queue: string } & Record<JobStatus, number>;

export const QUEUE_COLUMNS: Array<Column<QueueCounts>> = [
  { header: "QUEUE", cell: (row) => row.queue },
  ...JOB_STATUSES.map((status) => ({ header: status.toUpperCase(), cell: (row: QueueCounts) => String(row[status]) })),
];

export class Output {
  constructor(readonly json: boolean) {}

  /** JSON when asked for, or when stdout is a pipe or a file. */
  static choose(options: { json?: boolean }): Output {
    return new Output(options.json === true || !process.stdout.isTTY);
  }

  /** One result: a JSON line, or `key  value` lines. */
  record(value: object): void {
    if (this.json) return this.line(stringifyJson(value));
    const entries = Object.entries(value);
    const width = Math.max(...entries.map(([key]) => key.length));
    for (const [key, field] of entries) this.line(`${key.padEnd(width)}  ${fieldText(key, field)}`);
  }

  /** Many results: JSON lines, or a table with a header row (or "(none)"). */
  rows<T>(items: T[], columns: Array<Column<T>>): void {
    if (this.json) {
      for (const item of items) this.line(stringifyJson(item));
      return;
    }
    if (items.length === 0) return this.line("(none)");
    const cells = [columns.map((column) => column.header), ...items.map((item) => columns.map((column) => column.cell(item)))];
    const widths = columns.map((_, index) => Math.max(...cells.map((row) => row[index]!.length)));
    for (const row of cells) this.line(row.map((cell, index) => cell.padEnd(widths[index]!)).join("  ").trimEnd());
  }

  /** A remark for the person at the terminal (or the script's log): stderr, in both modes. */
  notice(text: string): void {
    process.stderr.write(`wharf: ${text}\n`);
  }

  private line(text: string): void {
    process.stdout.write(`${text}\n`);
  }
}
