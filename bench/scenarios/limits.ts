/**
 * What queue limits cost where jobs are handed out: the same backlog drained by one SDK Worker over
 * HTTP from a queue without settings and from queues with each limit set high enough never to bind,
 * so the difference is the limited claim path itself (README "Queue controls"). A warm-up drain goes
 * first, and the variants run twice, in mirrored order, so a drift of the machine cancels out.
 */
import type { QueuePatch } from "../../src/index.js";
import { measure, type Measurement } from "../report.js";
import type { ScenarioContext } from "./context.js";
import { drain, KEYS, mean } from "./drain.js";

interface Variant {
  label: string;
  settings: QueuePatch | undefined;
  keyed: boolean;
}

const VARIANTS: Variant[] = [
  { label: "no limits", settings: undefined, keyed: false },
  { label: "max_in_flight 100,000", settings: { max_in_flight: 100_000 }, keyed: false },
  { label: `concurrency_key 1,000 per key, ${KEYS} keys`, settings: { concurrency_key: { limit: 1000 } }, keyed: true },
  { label: "rate_limit 10,000 per 10 ms", settings: { rate_limit: { limit: 10_000, interval_ms: 10 } }, keyed: false },
];

export async function limits(context: ScenarioContext): Promise<Measurement[]> {
  const total = context.jobCount(30_000);
  const rates = new Map<Variant, number[]>(VARIANTS.map((variant) => [variant, []]));
  await context.withServer(async (_server, client) => {
    await drain(client, "limits-warm-up", Math.min(total, 5000), false);
    let runs = 0;
    for (const variant of [...VARIANTS, ...[...VARIANTS].reverse()]) {
      const queue = `limits-${runs++}`;
      if (variant.settings) await client.patchQueue(queue, variant.settings);
      rates.get(variant)!.push(await drain(client, queue, total, variant.keyed));
    }
  });
  return VARIANTS.map((variant) => measure(`drain ${total} jobs, ${variant.label} (mean of 2)`, mean(rates.get(variant)!), "jobs/s"));
}
