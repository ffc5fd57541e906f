/** Command-line options of `npm run bench:peers -- [options]`. */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { positiveInteger, positiveNumber } from "../options.js";

export interface PeerBenchOptions {
  /** (a) single enqueues, 50 in flight. */
  singleJobs: number;
  inFlight: number;
  /** (b) jobs enqueued in bulks of `bulkSize`. */
  bulkJobs: number;
  bulkSize: number;
  /** (c) backlog drained by one worker process. */
  backlogJobs: number;
  /** (d) paced enqueues per second for `latencySeconds`, worker running. */
  latencyRate: number;
  latencySeconds: number;
  concurrency: number;
  /** Runs, each system order reversed from the previous one; each cell is their mean. */
  runs: number;
  /** Names (or parts of names, case-insensitive) of the systems to run; all when empty. */
  only: string[];
  /** Letters of the workloads to run (a to d); all when empty. */
  workloads: string[];
  /** Every phase stops after this long, whatever count it reached. */
  maxPhaseSeconds: number;
  quick: boolean;
  resultsDir: string;
  /** Where Wharf's HTTP servers write CPU profiles, one per workload; profiling is off when undefined. */
  cpuProfileDir: string | undefined;
}

export const USAGE = `npm run bench:peers -- [options]

  --quick              a smoke run of about a minute: small sizes, one run
  --single N           (a) jobs enqueued one by one (default 20000; quick 2000)
  --in-flight N        (a) enqueues in flight (default 50)
  --bulk N             (b) jobs enqueued in bulks (default 100000; quick 10000)
  --bulk-size N        (b) jobs per bulk (default 1000)
  --backlog N          (c) backlog drained by one worker (default 100000; quick 10000)
  --rate R             (d) enqueues per second with the worker running (default 500)
  --seconds S          (d) how long (default 20; quick 3)
  --concurrency N      worker concurrency of every system (default 50)
  --runs N             runs, system order reversed each time; cells are means (default 2; quick 1)
  --only NAME[,NAME]   systems whose name contains one of these (e.g. bullmq,wharf)
  --workloads L[,L]    only these workloads, by letter (e.g. c for the drain; default all)
  --max-seconds S      time limit of each phase (default 120)
  --out DIR            where peers-<date>.md and .json go (default bench/results/)
  --cpu-prof           profile Wharf's HTTP servers: a .cpuprofile per workload in bench/profiles/,
                       and each one's top functions by self time printed as its workload ends
`;

const DEFAULT_RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));
const DEFAULT_PROFILES_DIR = fileURLToPath(new URL("../profiles/", import.meta.url));

/** Parses the arguments; undefined when only help was asked for. */
export function parsePeerOptions(args: string[]): PeerBenchOptions | undefined {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean" },
      single: { type: "string" },
      "in-flight": { type: "string" },
      bulk: { type: "string" },
      "bulk-size": { type: "string" },
      backlog: { type: "string" },
      rate: { type: "string" },
      seconds: { type: "string" },
      concurrency: { type: "string" },
      runs: { type: "string" },
      only: { type: "string" },
      workloads: { type: "string" },
      "max-seconds": { type: "string" },
      out: { type: "string" },
      "cpu-prof": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const quick = values.quick ?? false;
  return {
    singleJobs: positiveInteger(values.single, "single", quick ? 2_000 : 20_000),
    inFlight: positiveInteger(values["in-flight"], "in-flight", 50),
    bulkJobs: positiveInteger(values.bulk, "bulk", quick ? 10_000 : 100_000),
    bulkSize: positiveInteger(values["bulk-size"], "bulk-size", 1_000),
    backlogJobs: positiveInteger(values.backlog, "backlog", quick ? 10_000 : 100_000),
    latencyRate: positiveNumber(values.rate, "rate", 500),
    latencySeconds: positiveNumber(values.seconds, "seconds", quick ? 3 : 20),
    concurrency: positiveInteger(values.concurrency, "concurrency", 50),
    runs: positiveInteger(values.runs, "runs", quick ? 1 : 2),
    only: (values.only ?? "").split(",").map((name) => name.trim().toLowerCase()).filter((name) => name !== ""),
    workloads: workloadLetters(values.workloads),
    maxPhaseSeconds: positiveNumber(values["max-seconds"], "max-seconds", 120),
    quick,
    resultsDir: values.out ?? DEFAULT_RESULTS_DIR,
    cpuProfileDir: values["cpu-prof"] ? DEFAULT_PROFILES_DIR : undefined,
  };
}

function workloadLetters(value: string | undefined): string[] {
  const letters = (value ?? "").split(",").map((letter) => letter.trim().toLowerCase()).filter((letter) => letter !== "");
  const unknown = letters.filter((letter) => !["a", "b", "c", "d"].includes(letter));
  if (unknown.length > 0) throw new Error(`--workloads takes letters a to d, got "${unknown.join(",")}"`);
  return letters;
}
