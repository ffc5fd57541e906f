/** CPU time and memory of processes, from Linux /proc. */
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";

const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return ""; // the process has gone: it counts as nothing from now on
  }
}

/** utime + stime of one process in µs (0 once it has exited). The command name may hold spaces, so fields count from its ")". */
async function cpuMicros(pid: number): Promise<number> {
  const stat = await readOrEmpty(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields.length < 13) return 0;
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** CPU time each pid used so far, in µs. */
export async function cpuByPid(pids: readonly number[]): Promise<Map<number, number>> {
  return new Map(await Promise.all(pids.map(async (pid) => [pid, await cpuMicros(pid)] as const)));
}

/** CPU used between two readings, in µs; a pid that appeared later counts from zero, one that exited is lost. */
export function cpuUsedMicros(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, micros] of after) total += Math.max(0, micros - (before.get(pid) ?? 0));
  return total;
}

/**
 * Memory of the pids together, in bytes: the sum of their proportional set sizes (/proc/<pid>/smaps_rollup),
 * which counts a shared page once across them. Summed RSS would count PostgreSQL's shared buffers once per backend.
 */
export async function memoryBytes(pids: readonly number[]): Promise<number> {
  const kilobytes = await Promise.all(pids.map(async (pid) => Number(/^Pss:\s+(\d+) kB/m.exec(await readOrEmpty(`/proc/${pid}/smaps_rollup`))?.[1] ?? 0)));
  return kilobytes.reduce((sum, count) => sum + count, 0) * 1024;
}

/** Samples the pids' memory every `intervalMs` until stopped; resolves to the peak seen, in bytes. */
export function samplePeakMemory(pids: readonly number[], intervalMs = 200): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await memoryBytes(pids));
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.max(peak, await memoryBytes(pids));
    },
  };
}
