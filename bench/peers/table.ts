/** The peer benchmark's table: one row per workload, one column per system, Wharf's best against the best peer. */
import type { Metric, SystemRun } from "./measure.js";
import type { PeerBenchOptions } from "./options.js";

export interface SystemColumn {
  name: string;
  isWharf: boolean;
  runs: SystemRun[];
}

interface Row {
  label: string;
  metric: Metric;
  higherIsBetter: boolean;
  format(value: number): string;
  /** A second figure shown in parentheses (the max beside the p99). */
  extra?: Metric;
}

function significant(value: number): string {
  if (value >= 1000) return Math.round(Number(value.toPrecision(3))).toLocaleString("en-US");
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function rows(options: PeerBenchOptions): Row[] {
  const count = (n: number): string => n.toLocaleString("en-US");
  return [
    { label: `(a) enqueue ${count(options.singleJobs)} one by one, ${options.inFlight} in flight, jobs/s`, metric: "single", higherIsBetter: true, format: significant },
    { label: `(b) enqueue ${count(options.bulkJobs)} in bulks of ${count(options.bulkSize)}, jobs/s`, metric: "bulk", higherIsBetter: true, format: significant },
    { label: `(c) drain a ${count(options.backlogJobs)} backlog, one worker process, jobs/s`, metric: "drain", higherIsBetter: true, format: significant },
    { label: `(d) ${count(options.latencyRate)} jobs/s for ${options.latencySeconds} s, enqueue to handler start, p99 ms (max)`, metric: "latencyP99", extra: "latencyMax", higherIsBetter: false, format: significant },
    { label: "(e) server memory during (c), peak PSS, MB", metric: "memory", higherIsBetter: false, format: (value) => value.toFixed(0) },
    { label: "CPU per job during (c), worker + server, µs", metric: "cpuPerJob", higherIsBetter: false, format: significant },
  ];
}

/** The mean over the runs that measured it; undefined when none did. */
export function meanOf(column: SystemColumn, metric: Metric): number | undefined {
  const values = column.runs.map((run) => run.figures[metric]).filter((value): value is number => value !== undefined && Number.isFinite(value));
  return values.length === 0 ? undefined : values.reduce((sum, value) => sum + value, 0) / values.length;
}

function best(columns: SystemColumn[], row: Row): { value: number; name: string } | undefined {
  let found: { value: number; name: string } | undefined;
  for (const column of columns) {
    const value = meanOf(column, row.metric);
    if (value === undefined) continue;
    if (found === undefined || (row.higherIsBetter ? value > found.value : value < found.value)) found = { value, name: column.name };
  }
  return found;
}

/** Wharf's best over the best peer as a factor where above 1 means Wharf is ahead (for lower-is-better rows, peer over Wharf). */
function ratioCell(columns: SystemColumn[], row: Row): string {
  const wharf = best(columns.filter((column) => column.isWharf), row);
  const peer = best(columns.filter((column) => !column.isWharf), row);
  if (wharf === undefined || peer === undefined || wharf.value === 0 || peer.value === 0) return "–";
  const factor = row.higherIsBetter ? wharf.value / peer.value : peer.value / wharf.value;
  return `${factor.toFixed(2)}x (${wharf.name.replace(/^Wharf, /, "")} vs ${peer.name})`;
}

function cell(column: SystemColumn, row: Row): string {
  const value = meanOf(column, row.metric);
  if (value === undefined) return column.runs.some((run) => run.errors.length > 0) ? "failed" : "–";
  const extra = row.extra === undefined ? undefined : meanOf(column, row.extra);
  return extra === undefined ? row.format(value) : `${row.format(value)} (${row.format(extra)})`;
}

export function markdownTable(columns: SystemColumn[], options: PeerBenchOptions): string {
  const header = ["workload", ...columns.map((column) => column.name), "Wharf's best vs best peer"];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const row of rows(options)) lines.push(`| ${[row.label, ...columns.map((column) => cell(column, row)), ratioCell(columns, row)].join(" | ")} |`);
  return lines.join("\n");
}

/** The last column's meaning, for the notes. */
export const RATIO_NOTE = "Last column: Wharf's best figure against the best peer's as a factor, above 1 meaning Wharf is ahead (for p99, memory and CPU, the peer's figure over Wharf's).";
