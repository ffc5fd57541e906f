/**
 * `wharf serve` as a child process on loopback, with its own temporary data
 * directory that is removed when the server stops. It runs the compiled
 * `dist/cli/main.js`, as the installed `wharf` does, built from the current
 * source once per bench process: through tsx the server would carry the
 * compiler and its module hooks (about 35 MB more at rest) that users do not.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childEnv, exitWithin, forgetTempDir, hasExited, ROOT, track, trackTempDir } from "./children.js";
import { waitForListening } from "../test/helpers/listening.js";

export type Durability = "fsync" | "buffered";

export interface ServerProcessOptions {
  durability: Durability;
  /** A postgres:// URL; the server's own SQLite file when absent. */
  store?: string;
  /** When set, the server runs with --cpu-prof and writes its profile here on exit. */
  cpuProfileDir?: string;
  startTimeoutMs?: number;
}

/** The last few thousand characters a stream produced. */
class OutputTail {
  private static readonly KEPT = 4000;
  text = "";

  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      this.text = (this.text + chunk).slice(-OutputTail.KEPT);
    });
  }
}

export class ServerProcess {
  private constructor(
    readonly url: string,
    readonly pid: number,
    readonly dataDir: string,
    private readonly child: ChildProcess,
    private readonly output: { stdout: OutputTail; stderr: OutputTail },
  ) {}

  static async start(options: ServerProcessOptions): Promise<ServerProcess> {
    await buildOnce();
    const dataDir = await mkdtemp(join(tmpdir(), "wharf-bench-"));
    trackTempDir(dataDir);
    try {
      const child = track(spawn(process.execPath, serverArgs(dataDir, options), { cwd: ROOT, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] }));
      const output = { stdout: new OutputTail(child.stdout!), stderr: new OutputTail(child.stderr!) };
      const listening = await waitForListening(child, options.startTimeoutMs ?? 20_000, () => `stdout: ${output.stdout.text}\nstderr: ${output.stderr.text}`);
      return new ServerProcess(listening.url, listening.pid, dataDir, child, output);
    } catch (error) {
      await removeDir(dataDir);
      throw error;
    }
  }

  /** Resident memory of the server process right now, and its peak, in bytes (Linux /proc). */
  async memory(): Promise<{ rssBytes: number; peakRssBytes: number }> {
    const status = await readFile(`/proc/${this.pid}/status`, "utf8");
    return { rssBytes: procStatusKb(status, "VmRSS") * 1024, peakRssBytes: procStatusKb(status, "VmHWM") * 1024 };
  }

  /** The server's V8 heap in use, in bytes, as its /metrics endpoint reports it (NaN if it does not). */
  async heapUsedBytes(): Promise<number> {
    const response = await fetch(`${this.url}/metrics`);
    const text = await response.text();
    const match = /^wharf_nodejs_heap_size_used_bytes\s+([\d.e+]+)$/m.exec(text);
    return match ? Number(match[1]) : Number.NaN;
  }

  /** Bytes the store occupies on disk (database, WAL and shared-memory files). */
  async diskBytes(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.dataDir)) total += (await stat(join(this.dataDir, name))).size;
    return total;
  }

  /** The end of what the server logged (its log lines go to stdout, crashes to stderr). */
  get recentOutput(): string {
    return `${this.output.stdout.text}${this.output.stderr.text}`;
  }

  /** SIGTERM (a clean shutdown, which also writes a CPU profile), SIGKILL if it lingers; then removes the data directory. */
  async stop(): Promise<void> {
    if (!hasExited(this.child)) this.child.kill("SIGTERM");
    await exitWithin(this.child, 15_000);
    await removeDir(this.dataDir);
  }
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  forgetTempDir(dir);
}

let built: Promise<unknown> | undefined;

/** `npm run build` (a few seconds), once: the bench measures the code as it is now, not an older dist/. */
function buildOnce(): Promise<unknown> {
  built ??= promisify(execFile)("npm", ["run", "build"], { cwd: ROOT });
  return built;
}

function serverArgs(dataDir: string, options: ServerProcessOptions): string[] {
  const profiling = options.cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir];
  return [
    ...profiling,
    "dist/cli/main.js", "serve",
    "--host", "127.0.0.1", "--port", "0",
    "--data-dir", dataDir,
    "--durability", options.durability,
    ...(options.store === undefined ? [] : ["--store", options.store]),
  ];
}

function procStatusKb(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc status`);
  return Number(match[1]);
}
