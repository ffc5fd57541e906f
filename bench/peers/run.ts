/**
 * `npm run bench:peers`: Wharf beside BullMQ, pg-boss and graphile-worker on this machine, in one run,
 * with the same workloads (bench/peers/measure.ts), payload and worker concurrency. Starts a Redis
 * without persistence and a throwaway PostgreSQL cluster (fsync on), gives every workload of every system
 * a fresh store, runs the systems in one order and then in reverse, and prints one markdown table that it
 * also writes, with machine, versions and settings, to bench/results/peers-<date>.md and .json.
 * Nothing is asserted.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { createDatabase, startPostgres, type PostgresCluster } from "../../test/helpers/postgres.js";
import { abandonChildren, forgetTempDir, trackTempDir } from "../children.js";
import { describeLoad, isBusy, machineLoad, startCpuPressureMeter, type MachineLoad } from "../machine.js";
import { measureSystem } from "./measure.js";
import { parsePeerOptions, USAGE, type PeerBenchOptions } from "./options.js";
import { startRedis, type RedisServer } from "./redis.js";
import type { BenchSystem, SystemContext } from "./system.js";
import { markdownTable, meanOf, RATIO_NOTE, type SystemColumn } from "./table.js";
import { wharfHttpPostgres, wharfHttpSqlite } from "./wharf.js";
import { wharfInProcess } from "./wharf-in-process.js";
import { measureSqliteCeiling, type SqliteCeiling } from "./sqlite-ceiling.js";
import { benchPayload } from "./workloads.js";

/** The peers' modules, by file name; each exports one BenchSystem. A module not there yet is left out, and said so. */
const PEER_MODULES = ["bullmq.ts", "pg-boss.ts", "graphile-worker.ts"];
const WHARF_SYSTEMS = [wharfHttpSqlite, wharfHttpPostgres, wharfInProcess];

function isBenchSystem(value: unknown): value is BenchSystem {
  const candidate = value as Partial<BenchSystem> | undefined;
  return typeof candidate?.name === "string" && typeof candidate.start === "function" && typeof candidate.versions === "function";
}

async function loadPeers(missing: string[]): Promise<BenchSystem[]> {
  const peers: BenchSystem[] = [];
  for (const file of PEER_MODULES) {
    const url = new URL(`./${file}`, import.meta.url);
    if (!existsSync(url)) {
      missing.push(`bench/peers/${file} is missing: its system is left out`);
      continue;
    }
    const module = (await import(url.href)) as Record<string, unknown>;
    peers.push(...Object.values(module).filter(isBenchSystem));
  }
  return peers;
}

function chosen(systems: BenchSystem[], only: string[]): BenchSystem[] {
  if (only.length === 0) return systems;
  return systems.filter((system) => only.some((part) => system.name.toLowerCase().includes(part)));
}

/** Fresh stores for one workload: an empty database, a flushed Redis, an empty directory. */
class Stores {
  constructor(
    private readonly cluster: PostgresCluster,
    private readonly redis: RedisServer,
    private readonly rootDir: string,
    private readonly concurrency: number,
    private readonly cpuProfileDir: string | undefined,
  ) {}

  async fresh(): Promise<SystemContext> {
    await this.redis.flush();
    const context: SystemContext = {
      postgresUrl: await createDatabase(this.cluster.url),
      redisUrl: this.redis.url,
      dataDir: await mkdtemp(join(this.rootDir, "workload-")),
      concurrency: this.concurrency,
    };
    if (this.cpuProfileDir !== undefined) context.cpuProfileDir = this.cpuProfileDir;
    return context;
  }

  /** Removes the directories of the workloads so far (a backlog's SQLite file is large). */
  async clearDirs(): Promise<void> {
    await rm(this.rootDir, { recursive: true, force: true });
    await mkdir(this.rootDir);
  }
}

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string; fsync: string }>("SELECT current_setting('server_version') AS server_version, current_setting('fsync') AS fsync");
    return `${rows[0]!.server_version} (fsync ${rows[0]!.fsync})`;
  } finally {
    await client.end();
  }
}

/** A system's package versions; one that cannot say is noted, and still runs. */
async function versionsOf(system: BenchSystem, problems: string[]): Promise<Record<string, string>> {
  try {
    return await system.versions();
  } catch (error) {
    problems.push(`${system.name}: versions unknown (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`);
    return {};
  }
}

interface RunRecord {
  order: string[];
  loadBefore: MachineLoad;
  cpuPressurePercent: number | null;
}

async function runAll(systems: BenchSystem[], options: PeerBenchOptions, stores: Stores): Promise<{ columns: SystemColumn[]; runs: RunRecord[] }> {
  const columns = new Map(systems.map((system) => [system, { name: system.name, isWharf: WHARF_SYSTEMS.includes(system), runs: [] } as SystemColumn]));
  const runs: RunRecord[] = [];
  for (let run = 0; run < options.runs; run++) {
    const order = run % 2 === 0 ? systems : [...systems].reverse();
    const loadBefore = await machineLoad();
    const pressure = await startCpuPressureMeter();
    console.log(`\nRun ${run + 1} of ${options.runs}: ${order.map((system) => system.name).join(", ")}`);
    for (const system of order) {
      console.log(`${system.name} (machine: ${describeLoad(await machineLoad())})`);
      const result = await measureSystem(system, options, () => stores.fresh());
      await stores.clearDirs();
      for (const error of result.errors) console.log(`  FAILED ${error}`);
      columns.get(system)!.runs.push(result);
    }
    runs.push({ order: order.map((system) => system.name), loadBefore, cpuPressurePercent: await pressure() });
  }
  return { columns: [...columns.values()], runs };
}

function describeSizes(options: PeerBenchOptions): string {
  const mode = options.quick ? "QUICK smoke run (small sizes): not the full benchmark; " : "";
  return `${mode}${options.runs} run(s), system order reversed on each following run, each cell the mean; worker concurrency ${options.concurrency}, no-op handler; payload ${JSON.stringify(benchPayload(0)).length} bytes of JSON; phases limited to ${options.maxPhaseSeconds} s`;
}

function notesLines(systems: BenchSystem[], options: PeerBenchOptions, versions: Record<string, string>, runs: RunRecord[], loadAfter: MachineLoad, problems: string[]): string[] {
  const pressure = runs.map((run) => (run.cpuPressurePercent === null ? "n/a" : `${run.cpuPressurePercent.toFixed(0)}%`)).join(", ");
  const busy = runs.some((run) => isBusy(run.loadBefore)) || isBusy(loadAfter);
  return [
    `- ${describeSizes(options)}.`,
    ...systems.map((system) => `- ${system.name}: ${system.notes}.`),
    `- Redis ${versions.redis} without persistence (\`--save '' --appendonly no\`), loopback. PostgreSQL ${versions.postgresql}, synchronous_commit on, a fresh database per workload. Wharf's SQLite: durability fsync.`,
    "- (c) runs from the moment the worker process is taking jobs until the store counts none left; CPU is utime + stime from /proc of the worker and server processes over that time, divided by the jobs; memory is the peak of the server processes' summed PSS (proportional set size: a page shared by several postgres processes counts once, where summed RSS would count shared buffers per backend), sampled every 200 ms.",
    `- ${RATIO_NOTE}`,
    `- Machine: ${describeLoad(runs[0]?.loadBefore ?? loadAfter)} before, ${describeLoad(loadAfter)} after; CPU pressure (some task waiting for a CPU, the bench's own processes included) per run: ${pressure}${busy ? ". BUSY: other work competed for the CPUs; figures are low and noisy" : ""}.`,
    ...problems.map((problem) => `- ${problem}.`),
  ];
}

/** How close the in-process engine comes to raw SQLite on the same disk (issue 9's 60% aim). */
function ceilingNote(ceiling: SqliteCeiling, columns: SystemColumn[]): string {
  const inProcess = columns.find((column) => column.name === wharfInProcess.name);
  const share = (metric: "single" | "bulk", ceilingRate: number): string => {
    const rate = inProcess ? meanOf(inProcess, metric) : undefined;
    return rate === undefined ? "not measured" : `${Math.round((100 * rate) / ceilingRate)}%`;
  };
  return `- Raw SQLite on the same disk (better-sqlite3, WAL, synchronous FULL, the same payloads, no engine): ${Math.round(ceiling.singleRowCommitsPerSecond).toLocaleString("en-US")} single-row commits/s and ${Math.round(ceiling.batchedRowsPerSecond).toLocaleString("en-US")} rows/s in transactions of ${ceiling.batchSize}. Wharf in-process reaches ${share("single", ceiling.singleRowCommitsPerSecond)} of the first with (a) (group commit can pass 100%) and ${share("bulk", ceiling.batchedRowsPerSecond)} of the second with (b).`;
}

function machineDescription(): { cpu: string; cpus: number; memoryGiB: number; kernel: string; node: string } {
  return { cpu: cpus()[0]?.model ?? "unknown", cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version };
}

async function writeResults(options: PeerBenchOptions, startedAt: Date, report: string, data: object): Promise<string> {
  await mkdir(options.resultsDir, { recursive: true });
  const base = join(options.resultsDir, `peers-${startedAt.toISOString().slice(0, 10)}${options.quick ? "-quick" : ""}`);
  await writeFile(`${base}.md`, report);
  await writeFile(`${base}.json`, `${JSON.stringify(data, null, 2)}\n`);
  return base;
}

async function main(): Promise<void> {
  let options: PeerBenchOptions | undefined;
  try {
    options = parsePeerOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench:peers: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (!options) return void process.stdout.write(USAGE);
  const startedAt = new Date();
  const problems: string[] = [];
  const everySystem = [...(await loadPeers(problems)), ...WHARF_SYSTEMS];
  const systems = chosen(everySystem, options.only);
  if (systems.length === 0) {
    process.stderr.write(`bench:peers: --only ${options.only.join(",")} matches no system; the systems are ${everySystem.map((system) => system.name).join("; ")}\n`);
    process.exitCode = 2;
    return;
  }
  console.log(`Peer bench: ${systems.map((system) => system.name).join(", ")}\n${describeSizes(options)}\nMachine before start: ${describeLoad(await machineLoad())}`);
  const cluster = await startPostgres({ durable: true });
  const rootDir = await mkdtemp(join(tmpdir(), "wharf-peers-"));
  trackTempDir(rootDir);
  let redis: RedisServer | undefined;
  try {
    redis = await startRedis();
    const versions: Record<string, string> = { node: process.version, redis: redis.version, postgresql: await postgresVersion(cluster.url) };
    for (const system of systems) Object.assign(versions, await versionsOf(system, problems));
    const { columns, runs } = await runAll(systems, options, new Stores(cluster, redis, rootDir, options.concurrency, options.cpuProfileDir));
    const table = markdownTable(columns, options);
    const ceiling = measureSqliteCeiling(rootDir, options.singleJobs, options.bulkJobs, options.bulkSize);
    const notes = [...notesLines(systems, options, versions, runs, await machineLoad(), problems), ceilingNote(ceiling, columns)];
    const machine = machineDescription();
    const versionLine = Object.entries(versions).map(([name, version]) => `${name} ${version}`).join(", ");
    const machineLine = `${machine.cpus} x ${machine.cpu}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}`;
    const report = `# Peer benchmark, ${startedAt.toISOString()}\n\n${table}\n\n${notes.join("\n")}\n\nMachine: ${machineLine}. Versions: ${versionLine}.\n`;
    console.log(`\n${table}\n\n${notes.join("\n")}`);
    const base = await writeResults(options, startedAt, report, { startedAt, machine, versions, options, runs, systems: columns, sqliteCeiling: ceiling });
    console.log(`\nWritten to ${base}.md and .json`);
  } finally {
    await redis?.stop();
    await cluster.stop();
    await rm(rootDir, { recursive: true, force: true });
    forgetTempDir(rootDir);
  }
}

process.once("exit", abandonChildren);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    abandonChildren();
    process.exit(130);
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
