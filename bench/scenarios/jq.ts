/**
 * jq filter evaluations per second: 100,000 payloads through the filter API (jq 1.7 on worker
 * threads, PAYLOADS_PER_RUN payloads per jq run), and in the 500-row rounds the engine scans with.
 */
import { performance } from "node:perf_hooks";
import { compilePayloadFilter } from "../../src/engine/payload-filter.js";
import type { JsonValue } from "../../src/job/types.js";
import { atLeast, measure, type Measurement } from "../report.js";
import { ratePerSecond } from "../stats.js";
import type { ScenarioContext } from "./context.js";

const FILTERS: Record<string, string> = {
  simple: ".a == 1",
  "ruby contains": '(.args[0:1] == [1]) and (.kwargs | contains({"x":"a"}))',
};
const ENGINE_ROUND = 500;

function payload(index: number): JsonValue {
  return { a: index % 3, args: [index % 2, `job-${index}`], kwargs: { x: index % 5 === 0 ? "a" : "b", y: [1, 2, 3], name: "Zoë" } };
}

export async function jq(context: ScenarioContext): Promise<Measurement[]> {
  const payloads = Array.from({ length: context.jobCount(100_000) }, (_, index) => payload(index));
  const measurements: Measurement[] = [];
  for (const [name, expression] of Object.entries(FILTERS)) {
    const filter = await compilePayloadFilter(expression, { timeoutMs: 60_000, memoryMb: 256 });
    await filter.matchAll(payloads.slice(0, 1000)); // workers started and warm
    let started = performance.now();
    const matches = await filter.matchAll(payloads);
    measurements.push(measure(`${name}: ${payloads.length} payloads at once`, ratePerSecond(matches.length, performance.now() - started), "evals/s", atLeast(100_000)));
    started = performance.now();
    let evaluated = 0;
    for (let start = 0; start < payloads.length; start += ENGINE_ROUND) {
      evaluated += (await filter.matchAll(payloads.slice(start, start + ENGINE_ROUND))).length;
    }
    measurements.push(measure(`${name}: in ${ENGINE_ROUND}-payload rounds`, ratePerSecond(evaluated, performance.now() - started), "evals/s"));
  }
  return measurements;
}
