/**
 * jq filter evaluations per second: 100,000 payloads through the filter API (jq 1.7 on worker
 * threads, up to 10,000 payloads per jq run), and end to end: `GET /jobs/count?filter=` over
 * 100,000 stored jobs on a server child, which reads and filters them in rounds.
 */
import { performance } from "node:perf_hooks";
import { compilePayloadFilter } from "../../src/engine/payload-filter.js";
import { stringifyJson } from "../../src/job/json.js";
import type { JsonValue } from "../../src/job/types.js";
import { atLeast, measure, type Measurement } from "../report.js";
import { ratePerSecond } from "../stats.js";
import type { ScenarioContext } from "./context.js";

const FILTERS: Record<string, string> = {
  simple: ".a == 1",
  "ruby contains": '(.args[0:1] == [1]) and (.kwargs | contains({"x":"a"}))',
};
const BULK = 1000;

function payload(index: number): JsonValue {
  return { a: index % 3, args: [index % 2, `job-${index}`], kwargs: { x: index % 5 === 0 ? "a" : "b", y: [1, 2, 3], name: "Zoë" } };
}

export async function jq(context: ScenarioContext): Promise<Measurement[]> {
  const payloads = Array.from({ length: context.jobCount(100_000) }, (_, index) => payload(index));
  const measurements: Measurement[] = [];
  await context.withServer(async (_server, client) => {
    for (let start = 0; start < payloads.length; start += BULK) {
      await client.enqueueBulk(payloads.slice(start, start + BULK).map((payload) => ({ queue: "jq", type: "t", payload })));
    }
    for (const [name, expression] of Object.entries(FILTERS)) {
      await client.countJobs({ queue: "jq", filter: expression }); // workers started and warm
      const started = performance.now();
      const count = await client.countJobs({ queue: "jq", filter: expression });
      measurements.push(measure(`${name}: GET /jobs/count?filter over ${payloads.length} stored jobs (${count} match)`, ratePerSecond(payloads.length, performance.now() - started), "evals/s"));
    }
  });
  const texts = payloads.map((payload) => stringifyJson(payload));
  for (const [name, expression] of Object.entries(FILTERS)) {
    const filter = await compilePayloadFilter(expression, { timeoutMs: 60_000, memoryMb: 256 });
    await filter.matchTexts(texts.slice(0, 1000)); // workers started and warm
    const started = performance.now();
    const matches = await filter.matchTexts(texts);
    measurements.push(measure(`${name}: ${payloads.length} payloads at once`, ratePerSecond(matches.length, performance.now() - started), "evals/s", atLeast(100_000)));
  }
  return measurements;
}
