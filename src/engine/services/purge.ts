import type { WritePath } from "../write-path.js";
import type { Service } from "./service.js";

const PURGE_BATCH = 1000;

/** The leader deletes completed and dead jobs whose retention has run out (their purge_at passed), then workflows none of whose jobs is left. */
export class Purge implements Service {
  readonly name = "purge";
  readonly runsOn = "leader";

  constructor(private readonly writes: WritePath) {}

  async tick(now: number): Promise<void> {
    for (;;) {
      const purged = await this.writes.purgeDue(now, PURGE_BATCH);
      if (purged.length < PURGE_BATCH) break;
    }
    while ((await this.writes.purgeWorkflows(PURGE_BATCH)) === PURGE_BATCH);
  }
}
