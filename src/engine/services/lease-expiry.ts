import type { Job } from "../../job/types.js";
import type { Dispatcher } from "../dispatch.js";
import type { Service } from "./service.js";

const EXPIRY_BATCH = 1000;

/**
 * Every process fails its own leases that ran out (a hung worker on a live connection), a batch per
 * commit. `expire` records the failed attempts; one whose lease was extended elsewhere is left alone.
 */
export class LeaseExpiry implements Service {
  readonly name = "lease expiry";
  readonly runsOn = "everywhere";

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly expire: (jobs: Job[], now: number) => Promise<void>,
  ) {}

  async tick(now: number): Promise<void> {
    const expired = this.dispatcher.expiredLeases(now).filter((lease) => this.dispatcher.finish(lease.job.id));
    for (let start = 0; start < expired.length; start += EXPIRY_BATCH) {
      await this.expire(expired.slice(start, start + EXPIRY_BATCH).map(({ job }) => job), now).catch(() => undefined);
    }
  }
}
