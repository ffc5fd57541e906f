/** How busy the machine is: benchmarks on a shared machine measure the neighbours too. */
import { readFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";

export interface MachineLoad {
  cpus: number;
  loadAverage1m: number;
  /** Share of the last 10 s some task waited for a CPU (Linux PSI), when the kernel reports it. */
  cpuPressure10sPercent: number | null;
}

/** The "some" line of /proc/pressure/cpu (Linux PSI), or undefined where there is none. */
async function cpuPressureLine(): Promise<string | undefined> {
  try {
    return /^some .*$/m.exec(await readFile("/proc/pressure/cpu", "utf8"))?.[0];
  } catch {
    return undefined;
  }
}

function pressureField(line: string | undefined, field: string): number | null {
  const match = line === undefined ? null : new RegExp(`${field}=([\\d.]+)`).exec(line);
  return match ? Number(match[1]) : null;
}

export async function machineLoad(): Promise<MachineLoad> {
  const pressure = pressureField(await cpuPressureLine(), "avg10");
  return { cpus: cpus().length, loadAverage1m: loadavg()[0] ?? 0, cpuPressure10sPercent: pressure };
}

/**
 * Measures the share of wall time during which some task waited for a CPU, from this
 * call to the returned function's call; null where the kernel does not report it.
 */
export async function startCpuPressureMeter(): Promise<() => Promise<number | null>> {
  const stalledBefore = pressureField(await cpuPressureLine(), "total");
  const started = performance.now();
  return async () => {
    const stalledAfter = pressureField(await cpuPressureLine(), "total");
    const elapsedMicros = (performance.now() - started) * 1000;
    if (stalledBefore === null || stalledAfter === null || elapsedMicros <= 0) return null;
    return ((stalledAfter - stalledBefore) * 100) / elapsedMicros;
  };
}

export function isBusy(load: MachineLoad): boolean {
  return load.loadAverage1m > load.cpus * 0.5 || (load.cpuPressure10sPercent ?? 0) > 10;
}

export function describeLoad(load: MachineLoad): string {
  const pressure = load.cpuPressure10sPercent === null ? "" : `, CPU pressure ${load.cpuPressure10sPercent.toFixed(0)}% (10 s)`;
  return `load average ${load.loadAverage1m.toFixed(2)} on ${load.cpus} CPUs${pressure}`;
}
