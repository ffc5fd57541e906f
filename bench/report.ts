/** Results: what a scenario measured, the summary table and bench/results.json. Targets are printed, never asserted. */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import type { MachineLoad } from "./machine.js";
import { dirname } from "node:path";
import type { BenchOptions } from "./options.js";
import type { ServerProfile } from "./profile.js";

export interface Target {
  comparison: ">=" | "<=";
  value: number;
  /** How to print the target when the number alone would not say it (e.g. "<= empty queue"). */
  label?: string;
}

export interface Measurement {
  name: string;
  value: number;
  unit: string;
  target?: Target;
}

export interface ScenarioResult {
  scenario: string;
  measurements: Measurement[];
  notes: string[];
  error?: string;
  /** Top functions of each server child, when run with --cpu-prof. */
  profiles?: ServerProfile[];
}

export function measure(name: string, value: number, unit: string, target?: Target): Measurement {
  return target ? { name, value, unit, target } : { name, value, unit };
}

export function atLeast(value: number, label?: string): Target {
  return label ? { comparison: ">=", value, label } : { comparison: ">=", value };
}

export function atMost(value: number, label?: string): Target {
  return label ? { comparison: "<=", value, label } : { comparison: "<=", value };
}

export function meetsTarget(measurement: Measurement): boolean | undefined {
  const { target, value } = measurement;
  if (!target || Number.isNaN(value)) return undefined;
  return target.comparison === ">=" ? value >= target.value : value <= target.value;
}

function formatNumber(value: number, unit: string): string {
  if (Number.isNaN(value)) return "n/a";
  const digits = unit === "ms" || unit === "x" ? 2 : unit === "MB" ? 1 : 0;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatTarget(measurement: Measurement): string {
  const { target, unit } = measurement;
  if (!target) return "";
  return target.label ?? `${target.comparison} ${formatNumber(target.value, unit)} ${unit}`;
}

function verdict(measurement: Measurement): string {
  const met = meetsTarget(measurement);
  if (met === undefined) return "";
  return met ? "meets" : "MISSES";
}

/** One scenario's lines, printed as soon as it finishes. */
export function printScenario(result: ScenarioResult): void {
  console.log(`\n== ${result.scenario}`);
  for (const m of result.measurements) {
    const target = m.target ? `   (target ${formatTarget(m)}: ${verdict(m)})` : "";
    console.log(`   ${m.name}: ${formatNumber(m.value, m.unit)} ${m.unit}${target}`);
  }
  for (const note of result.notes) console.log(`   note: ${note}`);
  if (result.error) console.log(`   FAILED: ${result.error}`);
}

function padRow(cells: string[], widths: number[]): string {
  return cells.map((cell, column) => (column === 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join("  ").trimEnd();
}

export function printSummary(results: ScenarioResult[]): void {
  const header = ["scenario", "measurement", "value", "unit", "target", "verdict"];
  const rows = results.flatMap((result) => [
    ...result.measurements.map((m) => [result.scenario, m.name, formatNumber(m.value, m.unit), m.unit, formatTarget(m), verdict(m)]),
    ...(result.error ? [[result.scenario, "FAILED", "", "", "", result.error.split("\n")[0]!.slice(0, 80)]] : []),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  console.log("\nSummary (targets are informational; nothing is asserted)");
  console.log(padRow(header, widths));
  console.log(widths.map((width) => "-".repeat(width)).join("  "));
  for (const row of rows) console.log(padRow(row, widths));
}

export async function writeResults(options: BenchOptions, results: ScenarioResult[], startedAt: Date, loadBefore: MachineLoad): Promise<void> {
  const document = {
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    options: { ...options, cpuProfileDir: options.cpuProfileDir ?? null },
    machine: { node: process.version, platform: process.platform, cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", memory_bytes: totalmem(), load_before: loadBefore },
    scenarios: results.map((result) => ({
      ...result,
      measurements: result.measurements.map((m) => ({ ...m, value: Number.isNaN(m.value) ? null : m.value, meets_target: meetsTarget(m) ?? null })),
    })),
  };
  await mkdir(dirname(options.resultsPath), { recursive: true });
  await writeFile(options.resultsPath, `${JSON.stringify(document, null, 2)}\n`);
}
