import type { Job, JobContext } from "../../src/index.js";

/**
 * A Worker handler that runs until its job's signal aborts: `started` settles when the first job
 * starts, `aborted` lists the ids whose signal aborted, in order.
 */
export function runsUntilAborted(): { handler: (job: Job, context: JobContext) => Promise<void>; started: Promise<void>; aborted: string[] } {
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const aborted: string[] = [];
  const handler = (job: Job, context: JobContext): Promise<void> => new Promise<void>((resolve) => {
    started();
    context.signal.addEventListener("abort", () => {
      aborted.push(job.id);
      resolve();
    });
  });
  return { handler, started: running, aborted };
}
