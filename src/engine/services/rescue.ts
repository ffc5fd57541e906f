import { release } from "../../job/state.js";
import type { EngineParts } from "../coordination/coordination.js";
import type { Service } from "./service.js";

const RESCUE_BATCH = 1000;

/**
 * On a shared store, the leader makes the leases of servers that are gone ready again, as if their
 * stream had dropped. A lease that ran out a while ago belongs to such a server: a live one fails its
 * own expired leases first.
 */
export class Rescue implements Service {
  readonly name = "rescue";
  readonly runsOn = "leader";

  constructor(private readonly parts: EngineParts) {}

  async tick(now: number): Promise<void> {
    const { store, dispatcher, writes, maintenanceIntervalMs } = this.parts;
    const graceMs = 2 * maintenanceIntervalMs;
    for (;;) {
      const abandoned = (await store.expiredLeases(now - graceMs, RESCUE_BATCH)).filter((job) => !dispatcher.lease(job.id));
      if (abandoned.length === 0) return;
      await writes.update(abandoned.map((job) => ({ before: job, after: release(job) })));
      if (abandoned.length < RESCUE_BATCH) return;
    }
  }
}
