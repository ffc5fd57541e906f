/**
 * What event watchers cost: the same backlog drained by one SDK Worker over HTTP with nobody watching
 * the server's events, and with one client reading every event (GET /events, all kinds). Each run
 * has a fresh server (a server keeps making events for a while after its last watcher leaves) with a
 * warm-up drain first; each variant runs twice, in mirrored order, as in the limits scenario.
 */
import type { Client } from "../../src/index.js";
import { measure, type Measurement } from "../report.js";
import type { ScenarioContext } from "./context.js";
import { drain, mean } from "./drain.js";

type Variant = "nobody watching" | "one watcher of every event";
const VARIANTS: Variant[] = ["nobody watching", "one watcher of every event"];

/** Drains with `variant`'s watchers; how many events the watcher read along. */
async function drainWatched(client: Client, variant: Variant, queue: string, total: number): Promise<{ rate: number; events: number }> {
  if (variant === "nobody watching") return { rate: await drain(client, queue, total, false), events: 0 };
  const stream = client.events();
  await stream.opened;
  let events = 0;
  const reading = (async () => {
    for await (const _event of stream) events++;
  })();
  const rate = await drain(client, queue, total, false);
  await stream.close();
  await reading.catch(() => undefined);
  return { rate, events };
}

export async function events(context: ScenarioContext): Promise<Measurement[]> {
  const total = context.jobCount(30_000);
  const rates = new Map<Variant, number[]>(VARIANTS.map((variant) => [variant, []]));
  let eventsRead = 0;
  for (const variant of [...VARIANTS, ...[...VARIANTS].reverse()]) {
    await context.withServer(async (_server, client) => {
      await drain(client, "events-warm-up", Math.min(total, 5000), false);
      const result = await drainWatched(client, variant, "events", total);
      rates.get(variant)!.push(result.rate);
      eventsRead += result.events;
    });
  }
  return [
    ...VARIANTS.map((variant) => measure(`drain ${total} jobs, ${variant} (mean of 2)`, mean(rates.get(variant)!), "jobs/s")),
    measure("events read by the watcher, both runs", eventsRead, "events"),
  ];
}
