import type { Job } from "../../job/types.js";
import type { Logger } from "../../log.js";
import type { Dispatcher } from "../dispatch.js";
import { logFailure } from "../log.js";
import { chunks } from "../../slices.js";
import type { Service } from "./service.js";

const EXPIRY_BATCH = 1000;

/**
 * Every process fails its own leases that ran out (a hung worker on a live connection), a batch per
 * commit. `expire` records the failed attempts; one whose lease was extended elsewhere is left alone.
 * A batch that cannot be recorded is logged, and the next batches are still tried.
 */
export class LeaseExpiry implements Service {
  readonly name = "lease expiry";
  readonly runsOn = "everywhere";

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly expire: (jobs: Job[], now: number) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  async tick(now: number): Promise<void> {
    const expired = this.dispatcher.expiredLeases(now).filter((lease) => this.dispatcher.finish(lease.job.id));
    for (const batch of chunks(expired, EXPIRY_BATCH)) {
      await this.expire(batch.map(({ job }) => job), now).catch((error: unknown) => logFailure(this.logger, this.name, error));
    }
  }
}
