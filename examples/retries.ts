/**
 * Failures and retries: a thrown error is retried after the job's backoff,
 * RetryAtError picks the retry time, and KillJobError gives up at once.
 * Every failure is kept as an error record on the job.
 *
 *   node --import tsx examples/retries.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KillJobError, open, RetryAtError, Worker, type JobError } from "wharf-queue";

const dir = mkdtempSync(join(tmpdir(), "wharf-retries-"));
const client = await open({ store: `sqlite:${join(dir, "wharf.db")}` });

try {
  const worker = new Worker(client, {
    queues: ["payments"],
    handlers: {
      // Busy twice, each time asking to be retried 100 ms later; then it works.
      charge(job) {
        if (job.attempts < 2) throw new RetryAtError(Date.now() + 100, `gateway busy (try ${job.attempts + 1})`);
      },
      // No point retrying: the job is dead at once, whatever its retry_limit.
      refund() {
        throw new KillJobError("refund window closed");
      },
      // A plain error: retried after the job's backoff.
      receipt(job) {
        if (job.attempts === 0) throw new Error("mail server down");
      },
    },
    // Failures are recorded on the jobs; keep this example's output short.
    onError: () => {},
  }).start();

  // Keep completed jobs for a minute so we can look at them afterwards (the default deletes them at once).
  const retention = { completed_ms: 60_000 };
  const jobs = await client.enqueueBulk([
    { queue: "payments", type: "charge", payload: { cents: 1200 }, retention },
    { queue: "payments", type: "refund", payload: { cents: 300 }, retention },
    // Backoff delay = base_ms + attempts^exponent * 1000 + random * jitter_ms * attempts: here 1 s after the first failure.
    { queue: "payments", type: "receipt", payload: {}, retention, backoff: { base_ms: 0, exponent: 0, jitter_ms: 0 } },
  ]);

  const deadline = Date.now() + 5000;
  for (;;) {
    const statuses = await Promise.all(jobs.map(async (job) => (await client.getJob(job.id)).status));
    if (statuses.every((status) => status === "completed" || status === "dead")) break;
    if (Date.now() > deadline) throw new Error(`jobs still unfinished: ${statuses.join(", ")}`);
    await sleep(50);
  }
  await worker.stop();

  for (const { id } of jobs) {
    const job = await client.getJob(id);
    const errors: JobError[] = [];
    for await (const error of client.errors(id)) errors.push(error);
    console.log(`${job.type}: ${job.status} after ${job.attempts} failure(s): ${errors.map((error) => `${error.error_type}: ${error.message}`).join("; ")}`);
    if (job.type === "receipt") console.log(`receipt: retried ${job.ready_at - job.failed_at!} ms after its failure (backoff)`);
  }
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
