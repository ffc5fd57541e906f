/**
 * Wharf benchmarks: `npm run bench -- [--only NAME] [--jobs N] [--durability fsync|buffered] ...`
 * (`--help` lists every option). Prints numbers next to their targets and writes
 * bench/results.json; nothing is asserted. The server and the worker each run as
 * their own child process and all load goes over loopback HTTP.
 */
import { abandonChildren } from "./children.js";
import { describeLoad, isBusy, machineLoad, startCpuPressureMeter, type MachineLoad } from "./machine.js";
import { parseOptions, USAGE, type BenchOptions, type ScenarioName } from "./options.js";
import { printProfile } from "./profile.js";
import { printScenario, printSummary, writeResults, type Measurement, type ScenarioResult } from "./report.js";
import { backlog } from "./scenarios/backlog.js";
import { ScenarioContext } from "./scenarios/context.js";
import { endToEnd } from "./scenarios/end-to-end.js";
import { enqueueBulk, enqueueSingle } from "./scenarios/enqueue.js";
import { jq } from "./scenarios/jq.js";
import { dag } from "./scenarios/dag.js";
import { limits } from "./scenarios/limits.js";
import { latency } from "./scenarios/latency.js";
import { events } from "./scenarios/events.js";
import { createDatabase, startPostgres } from "../test/helpers/postgres.js";

const SCENARIOS: Record<ScenarioName, (context: ScenarioContext) => Promise<Measurement[]>> = {
  "enqueue-single": enqueueSingle,
  "enqueue-bulk": enqueueBulk,
  "end-to-end": endToEnd,
  latency,
  backlog,
  jq,
  dag,
  limits,
  events,
};

/** Runs one scenario; a failure is recorded in its result, and the next scenario still runs. */
async function runScenario(name: ScenarioName, options: BenchOptions, postgresDatabase?: () => Promise<string>): Promise<ScenarioResult> {
  const context = new ScenarioContext(options, postgresDatabase);
  const started = performance.now();
  const cpuPressure = await startCpuPressureMeter();
  let measurements: Measurement[] = [];
  let error: string | undefined;
  try {
    measurements = await SCENARIOS[name](context);
  } catch (failure) {
    error = failure instanceof Error ? failure.message : String(failure);
  }
  context.note(`took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const pressure = await cpuPressure();
  if (pressure !== null) context.note(`CPU pressure ${pressure.toFixed(0)}% (time some task waited for a CPU, the bench's own processes included)`);
  const result: ScenarioResult = { scenario: name, measurements, notes: context.notes };
  if (error !== undefined) result.error = error;
  if (context.profiles.length > 0) result.profiles = context.profiles;
  printScenario(result);
  for (const profile of context.profiles) printProfile(profile);
  return result;
}

function describeRun(options: BenchOptions, load: MachineLoad): string {
  const jobs = options.jobs === undefined ? "default sizes" : `${options.jobs} jobs each`;
  const servers = options.servers.some((count) => count > 1) ? `; end-to-end with ${options.servers.join(", then ")} servers` : "";
  return [
    `Wharf bench: ${options.scenarios.join(", ")}; ${jobs}; store ${options.store}${servers}; durability ${options.durability}; node ${process.version}`,
    `Machine before start: ${describeLoad(load)}${isBusy(load) ? " -- BUSY: other work competes for the CPUs, numbers will be low and noisy" : ""}`,
  ].join("\n");
}

async function main(): Promise<void> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (!options) {
    process.stdout.write(USAGE);
    return;
  }
  const startedAt = new Date();
  const load = await machineLoad();
  console.log(describeRun(options, load));
  const results: ScenarioResult[] = [];
  const cluster = options.store === "postgres" ? await startPostgres() : undefined;
  try {
    const postgresDatabase = cluster ? () => createDatabase(cluster.url) : undefined;
    for (const name of options.scenarios) results.push(await runScenario(name, options, postgresDatabase));
  } finally {
    await cluster?.stop();
  }
  printSummary(results);
  await writeResults(options, results, startedAt, load);
  console.log(`\nResults written to ${options.resultsPath}`);
}

process.once("exit", abandonChildren);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    abandonChildren();
    process.exit(130);
  });
}

await main();
