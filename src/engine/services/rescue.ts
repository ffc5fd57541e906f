import { release } from "../../job/state.js";
import type { EngineParts } from "../coordination/coordination.js";
import { logFailure } from "../log.js";
import type { EngineObserver } from "../observer.js";
import type { Service } from "./service.js";

const RESCUE_BATCH = 1000;

/**
 * On a shared store, the leader makes the leases no live server will end ready again, as if their
 * stream had dropped, without counting an attempt: those of servers that are gone (the store knows
 * which are alive) and those whose lease ran out a while ago (a live server fails its own first).
 */
export class Rescue implements Service {
  readonly name = "rescue";
  readonly runsOn = "leader";

  constructor(
    private readonly parts: EngineParts,
    private readonly observer: EngineObserver,
  ) {}

  /** A pass at start, on every server: the leases of a server that is gone (this one's previous run, say) start to count as abandoned now, not at the first tick. */
  async start(): Promise<void> {
    await this.tick(this.parts.clock.now()).catch((error: unknown) => logFailure(this.parts.logger, `${this.name} at start`, error));
  }

  async tick(now: number): Promise<void> {
    const { store, dispatcher, writes, maintenanceIntervalMs } = this.parts;
    const expiredBefore = now - 2 * maintenanceIntervalMs;
    for (;;) {
      const abandoned = (await store.abandonedLeases({ now, expiredBefore, limit: RESCUE_BATCH })).filter((job) => !dispatcher.lease(job.id));
      if (abandoned.length === 0) return;
      const updates = abandoned.map((job) => ({ before: job, after: release(job) }));
      const applied = await writes.update(updates);
      const rescued = updates.filter((_update, position) => applied[position]).map(({ after }) => after);
      if (rescued.length > 0) this.observer.rescued?.(rescued);
      if (abandoned.length < RESCUE_BATCH) return;
    }
  }
}
