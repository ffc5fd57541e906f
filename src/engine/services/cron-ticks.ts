import { nextDueAt, tickGroup } from "../../cron/state.js";
import { newJobId } from "../../job/ids.js";
import { createJob } from "../../job/state.js";
import { QueueFullError } from "../../errors.js";
import type { EnqueueInput, Job } from "../../job/types.js";
import type { Logger } from "../../log.js";
import type { QueueCaps, StoredCronGroup, Store } from "../../store/store.js";
import type { Clock } from "../clock.js";
import type { EngineObserver } from "../observer.js";
import type { WritePath } from "../write-path.js";
import { DueTimer } from "./due-timer.js";
import type { Service } from "./service.js";

const GROUPS_PER_READ = 100;
/** Reads of due groups per round: a group whose write lost its fence (a PUT, another server) is read again, this often at most. */
const READS_PER_ROUND = 10;

/** How the engine enqueues a tick's jobs, as it enqueues any. */
export interface CronEnqueues {
  /** What it makes of a job's input before the job is created: its queue's key and defaults. */
  prepare(input: EnqueueInput): Promise<EnqueueInput>;
  /** The max_entries of the jobs' queues. */
  capsFor(jobs: readonly Job[]): QueueCaps | undefined;
}

/**
 * Fires cron ticks (src/cron/state.ts decides what each tick does). Each due group is written with
 * its tick jobs in one transaction fenced on the revision read, so a tick is enqueued exactly once:
 * a crash loses the whole write or none of it, and of two servers firing one tick (a leader change)
 * only one write applies. One timer, for the earliest tick, while this process leads; the
 * maintenance tick finds groups that other servers defined.
 */
export class CronTicks implements Service {
  readonly name = "cron";
  readonly runsOn = "leader";
  private readonly timer: DueTimer;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly writes: WritePath,
    lead: () => Promise<boolean>,
    private readonly observer: EngineObserver,
    private readonly logger: Logger,
    private readonly enqueues: CronEnqueues,
  ) {
    this.timer = new DueTimer({
      name: this.name,
      clock,
      logger,
      run: () => this.fireDue(),
      nextDueAt: () => store.nextCronDueAt(),
      mayRun: lead,
    });
  }

  start(): Promise<void> {
    return this.timer.start();
  }

  tick(): Promise<void> {
    return this.timer.runNow();
  }

  /** Called when a group changed here: its earliest tick may come before the timer. */
  noteDue(at: number | undefined): void {
    this.timer.note(at);
  }

  private async fireDue(): Promise<void> {
    for (let read = 0; read < READS_PER_ROUND; read++) {
      const due = await this.store.dueCronGroups(this.clock.now(), GROUPS_PER_READ);
      let lost = false;
      for (const stored of due) lost = !(await this.fire(stored)) || lost;
      if (!lost && due.length < GROUPS_PER_READ) break;
    }
  }

  /** False when the group changed since it was read: nothing was written. */
  private async fire({ group, revision }: StoredCronGroup): Promise<boolean> {
    const now = this.clock.now();
    const ticked = tickGroup(group, now);
    let jobs = await Promise.all(ticked.jobs.map(async (input) => createJob(newJobId(), await this.enqueues.prepare(input), now)));
    for (;;) {
      try {
        const outcome = await this.writes.writeCronGroup({ name: group.name, revision, group: ticked.group, nextDueAt: nextDueAt(ticked.group), jobs, caps: this.enqueues.capsFor(jobs) });
        for (const { job, duplicate } of outcome.inserted) if (!duplicate) this.observer.cronFired?.(job);
        return outcome.applied;
      } catch (error) {
        jobs = this.withoutFullQueue(jobs, error, group.name);
      }
    }
  }

  /**
   * A tick's jobs less those of the queue that refused them for want of room (max_entries with
   * "reject"): the tick is skipped for that queue, as an enqueue would be refused, and the group
   * moves on; refusing the whole write would stop the group's ticks until the queue drains.
   */
  private withoutFullQueue(jobs: Job[], error: unknown, groupName: string): Job[] {
    if (!(error instanceof QueueFullError)) throw error;
    const left = jobs.filter(({ queue }) => queue !== error.queue);
    if (left.length === jobs.length) throw error;
    this.logger.warn({ group: groupName, queue: error.queue, skipped: jobs.length - left.length }, `cron tick skipped for a full queue: ${error.message}`);
    return left;
  }

  stop(): Promise<void> {
    return this.timer.stop();
  }
}
