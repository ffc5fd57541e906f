/** Reads a V8 .cpuprofile (from node --cpu-prof) and ranks functions by self time. */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { ROOT } from "./children.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  function: string;
  location: string;
  selfMs: number;
  selfPercent: number;
}

function location(url: string, line: number): string {
  if (url === "") return "(native)";
  const path = url.startsWith("file://") ? relative(ROOT, new URL(url).pathname) : url;
  // Code that tsx compiled reports line 0 for every function: the file alone says more.
  return line > 0 ? `${path}:${line + 1}` : path;
}

export interface ServerProfile {
  path: string;
  /** Sampled time the process was not idle, in ms. */
  busyMs: number;
  totalMs: number;
  hot: HotFunction[];
}

const IDLE = "(idle)";

/** Functions by self time (summed over call sites), highest first; percentages are of busy time. */
export async function summarizeProfile(profilePath: string, limit = 20): Promise<ServerProfile> {
  const profile = JSON.parse(await readFile(profilePath, "utf8")) as CpuProfile;
  const frameOf = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const selfMicros = new Map<string, { name: string; where: string; micros: number }>();
  let totalMicros = 0;
  profile.samples.forEach((nodeId, position) => {
    const frame = frameOf.get(nodeId);
    const micros = profile.timeDeltas[position] ?? 0;
    if (!frame) return;
    totalMicros += micros;
    const name = frame.functionName || "(anonymous)";
    const where = location(frame.url, frame.lineNumber);
    const key = `${name}@${where}`;
    const entry = selfMicros.get(key) ?? { name, where, micros: 0 };
    entry.micros += micros;
    selfMicros.set(key, entry);
  });
  const busy = [...selfMicros.values()].filter((entry) => entry.name !== IDLE);
  const busyMicros = busy.reduce((sum, entry) => sum + entry.micros, 0);
  const hot = busy
    .sort((a, b) => b.micros - a.micros)
    .slice(0, limit)
    .map((entry) => ({
      function: entry.name,
      location: entry.where,
      selfMs: entry.micros / 1000,
      selfPercent: busyMicros > 0 ? (entry.micros * 100) / busyMicros : 0,
    }));
  return { path: profilePath, busyMs: busyMicros / 1000, totalMs: totalMicros / 1000, hot };
}

/**
 * The main-thread profile node wrote for a process: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
 * (thread 0; tsx's loader thread writes its own).
 */
export async function profileOfProcess(directory: string, pid: number): Promise<string | undefined> {
  const names = await readdir(directory).catch(() => [] as string[]);
  const isMainThreadOf = (file: string): boolean => {
    const parts = file.split(".");
    return file.endsWith(".cpuprofile") && parts[3] === String(pid) && parts[4] === "0";
  };
  const name = names.filter(isMainThreadOf).sort().pop();
  return name === undefined ? undefined : join(directory, name);
}

export function printProfile(profile: ServerProfile): void {
  const busyPercent = profile.totalMs > 0 ? (profile.busyMs * 100) / profile.totalMs : 0;
  console.log(`   server CPU profile: ${relative(process.cwd(), profile.path)}`);
  console.log(`   busy ${profile.busyMs.toFixed(0)} ms of ${profile.totalMs.toFixed(0)} ms sampled (${busyPercent.toFixed(0)}%); self time as % of busy:`);
  console.log("   self %    self ms  function (location)");
  for (const hot of profile.hot) {
    console.log(`   ${hot.selfPercent.toFixed(1).padStart(6)}  ${hot.selfMs.toFixed(0).padStart(9)}  ${hot.function} (${hot.location})`);
  }
}
