import type { Store } from "../../store/store.js";
import type { Dispatcher } from "../dispatch.js";
import { inRun } from "../leases.js";
import { chunks } from "../../slices.js";
import type { Service } from "./service.js";

const SYNC_BATCH = 1000;

/**
 * On a shared store, other servers may have acked, failed or heartbeaten our leases (a client behind a
 * load balancer): leases no longer current in the store free their stream's slot, and extended ones
 * are extended here, before lease expiry looks at them.
 */
export class LeaseSync implements Service {
  readonly name = "lease sync";
  readonly runsOn = "everywhere";

  constructor(
    private readonly store: Store,
    private readonly dispatcher: Dispatcher,
  ) {}

  async tick(): Promise<void> {
    const leases = this.dispatcher.leases();
    for (const batch of chunks(leases, SYNC_BATCH)) {
      const stored = new Map((await this.store.getJobs(batch.map(({ job }) => job.id))).map((job) => [job.id, job]));
      for (const { job } of batch) {
        const current = stored.get(job.id);
        if (!current || !inRun(current, job.run_id)) this.dispatcher.finish(job.id);
        else if ((current.lease_expires_at ?? 0) > (job.lease_expires_at ?? 0)) {
          this.dispatcher.refresh(job.id, job.run_id, (copy) => ({ ...copy, lease_expires_at: current.lease_expires_at! }));
        }
      }
    }
  }
}
