/** Command-line options of `npm run bench -- [options]`. */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import type { Durability } from "./server-process.js";

export const SCENARIO_NAMES = ["enqueue-single", "enqueue-bulk", "end-to-end", "latency", "backlog", "jq", "dag", "limits", "events"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface BenchOptions {
  scenarios: ScenarioName[];
  /** Overrides every scenario's job count when set. */
  jobs: number | undefined;
  durability: Durability;
  /** Where the server keeps jobs: its own SQLite file, or a fresh database on a throwaway PostgreSQL cluster. */
  store: "sqlite" | "postgres";
  /**
   * Server counts the end-to-end scenario runs with, in turn: each run puts that many servers on one
   * PostgreSQL database, each with its own worker process. Default [1] on SQLite; on PostgreSQL
   * [1, 2, 2, 1]: one server and two, each twice in mirrored order so that drift cancels out.
   */
  servers: number[];
  /** Duration of the latency scenario, in seconds; the backlog's latency runs last min(3, this). */
  latencySeconds: number;
  /** Enqueues per second in the latency runs. */
  latencyRate: number;
  /** Worker process settings for end-to-end and latency. */
  workerConcurrency: number;
  workerPrefetch: number;
  /** Every load phase stops after this long, whatever count it reached. */
  maxPhaseSeconds: number;
  /** Directory for server CPU profiles; profiling is off when undefined. */
  cpuProfileDir: string | undefined;
  resultsPath: string;
}

export const USAGE = `npm run bench -- [options]

  --only NAME[,NAME]       scenarios to run (default all): ${SCENARIO_NAMES.join(", ")}
  --jobs N                 job count for every selected scenario (defaults: 20000, 200000, 100000, -, 1000000)
  --durability D           fsync (default) or buffered (SQLite only)
  --store S                sqlite (default) or postgres (a throwaway local PostgreSQL 15 cluster, a fresh database per scenario)
  --servers N[,N...]       end-to-end on N servers sharing one database, one worker each, a run per N,
                           then the mean per N (default 1; 1,2,2,1 with --store postgres, which N > 1 needs)
  --seconds S              latency scenario length (default 10; backlog latency runs use min(3, S))
  --rate R                 latency enqueues per second (default 1000)
  --concurrency N          worker process handlers (default 500)
  --prefetch N             worker process prefetch (default 1000)
  --max-seconds S          time limit of each load phase (default 120)
  --cpu-prof               profile the server children; writes .cpuprofile files to bench/profiles/ and prints top functions
  --out PATH               results file (default bench/results.json)
`;

const DEFAULT_RESULTS = fileURLToPath(new URL("./results.json", import.meta.url));
const DEFAULT_PROFILES = fileURLToPath(new URL("./profiles/", import.meta.url));

/** A flag's value as a positive number, `fallback` when absent; a clear error otherwise. Shared with bench:peers. */
export function positiveNumber(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return parsed;
}

export function positiveInteger(value: string | undefined, name: string, fallback: number): number {
  const parsed = positiveNumber(value, name, fallback);
  if (!Number.isInteger(parsed)) throw new Error(`--${name} must be an integer, got "${value}"`);
  return parsed;
}

function scenarioList(value: string | undefined): ScenarioName[] {
  if (value === undefined) return [...SCENARIO_NAMES];
  const names = value.split(",").map((name) => name.trim()).filter((name) => name !== "");
  for (const name of names) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) throw new Error(`unknown scenario "${name}"; pick from ${SCENARIO_NAMES.join(", ")}`);
  }
  return names as ScenarioName[];
}

function storeKind(value: string | undefined): BenchOptions["store"] {
  const chosen = value ?? "sqlite";
  if (chosen !== "sqlite" && chosen !== "postgres") throw new Error(`--store must be sqlite or postgres, got "${chosen}"`);
  return chosen;
}

/** Several servers share jobs only through one PostgreSQL database; with SQLite each server has its own file. */
function serverCounts(value: string | undefined, store: BenchOptions["store"]): number[] {
  if (value === undefined) return store === "postgres" ? [1, 2, 2, 1] : [1];
  const counts = value.split(",").map((count) => positiveInteger(count.trim(), "servers", 1));
  const several = counts.find((count) => count > 1);
  if (several !== undefined && store !== "postgres") {
    throw new Error(`--servers ${several} needs --store postgres: servers share jobs only through one PostgreSQL database, and each SQLite server has its own file`);
  }
  return counts;
}

function durability(value: string | undefined): Durability {
  const chosen = value ?? "fsync";
  if (chosen !== "fsync" && chosen !== "buffered") throw new Error(`--durability must be fsync or buffered, got "${chosen}"`);
  return chosen;
}

/** Parses the arguments; undefined when only help was asked for. */
export function parseOptions(args: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args,
    options: {
      only: { type: "string" },
      jobs: { type: "string" },
      durability: { type: "string" },
      store: { type: "string" },
      servers: { type: "string" },
      seconds: { type: "string" },
      rate: { type: "string" },
      concurrency: { type: "string" },
      prefetch: { type: "string" },
      "max-seconds": { type: "string" },
      "cpu-prof": { type: "boolean" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const store = storeKind(values.store);
  return {
    scenarios: scenarioList(values.only),
    jobs: values.jobs === undefined ? undefined : positiveInteger(values.jobs, "jobs", 1),
    durability: durability(values.durability),
    store,
    servers: serverCounts(values.servers, store),
    latencySeconds: positiveNumber(values.seconds, "seconds", 10),
    latencyRate: positiveNumber(values.rate, "rate", 1000),
    workerConcurrency: positiveInteger(values.concurrency, "concurrency", 500),
    workerPrefetch: positiveInteger(values.prefetch, "prefetch", 1000),
    maxPhaseSeconds: positiveNumber(values["max-seconds"], "max-seconds", 120),
    cpuProfileDir: values["cpu-prof"] ? DEFAULT_PROFILES : undefined,
    resultsPath: values.out ?? DEFAULT_RESULTS,
  };
}
