import { JOB_STATUSES, type JobStatus } from "../job/types.js";
import type { StatusCount } from "../store/store.js";

/** Jobs per queue and status, kept current by the engine so metrics and /queues never scan the table. */
export class StatusCounts {
  private readonly byQueue = new Map<string, Record<JobStatus, number>>();

  load(counts: StatusCount[]): void {
    this.byQueue.clear();
    for (const { queue, status, count } of counts) this.adjust(queue, status, count);
  }

  adjust(queue: string, status: JobStatus, delta: number): void {
    let counts = this.byQueue.get(queue);
    if (!counts) {
      counts = Object.fromEntries(JOB_STATUSES.map((name) => [name, 0])) as Record<JobStatus, number>;
      this.byQueue.set(queue, counts);
    }
    counts[status] += delta;
    if (delta < 0 && JOB_STATUSES.every((name) => counts[name] === 0)) this.byQueue.delete(queue);
  }

  count(queue: string, status: JobStatus): number {
    return this.byQueue.get(queue)?.[status] ?? 0;
  }

  queues(): string[] {
    return [...this.byQueue.keys()].sort();
  }

  entries(): StatusCount[] {
    const result: StatusCount[] = [];
    for (const [queue, counts] of this.byQueue) {
      for (const status of JOB_STATUSES) result.push({ queue, status, count: counts[status] });
    }
    return result;
  }
}
