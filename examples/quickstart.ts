/**
 * Quickstart: run the Wharf engine inside this process, enqueue a job and let
 * a Worker process it. No server needed; the jobs live in a SQLite file.
 *
 *   node --import tsx examples/quickstart.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open, Worker } from "wharf-queue";

const dir = mkdtempSync(join(tmpdir(), "wharf-quickstart-"));
// `open` runs the engine in-process; `connect(url)` would talk to a server instead, with the same API.
const client = await open({ store: `sqlite:${join(dir, "wharf.db")}` });

try {
  let welcomed: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    welcomed = resolve;
  });

  const worker = new Worker(client, {
    queues: ["emails"],
    handlers: {
      // One handler per job type. Returning normally acknowledges the job; throwing fails it.
      async welcome(job) {
        const { to } = job.payload as { to: string };
        console.log(`sending a welcome email to ${to}`);
        welcomed();
      },
    },
  }).start();

  const job = await client.enqueue({ queue: "emails", type: "welcome", payload: { to: "ada@example.com" } });
  console.log(`enqueued job ${job.id} (${job.status})`);

  await done;
  // stop() waits for running handlers, sends their acknowledgements and hands back anything unstarted.
  await worker.stop();
  // Completed jobs are deleted at once by default.
  console.log(`jobs left in "emails": ${await client.countJobs({ queue: "emails" })}`);
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
