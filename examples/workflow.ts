/**
 * A workflow: a chain whose steps each get the result of the one before, a group that runs in
 * parallel, and callbacks for success and failure. One call enqueues it all, in one transaction.
 *
 *   node --import tsx examples/workflow.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open, Worker, type JsonValue } from "wharf-queue";

const dir = mkdtempSync(join(tmpdir(), "wharf-workflow-"));
const client = await open({ store: `sqlite:${join(dir, "wharf.db")}` });

/** The results a step was taken with (dependency_results), by the type of the job that produced each. */
function before(results: Record<string, JsonValue> | undefined): JsonValue[] {
  return Object.values(results ?? {});
}

try {
  const worker = new Worker(client, {
    queues: ["reports"],
    handlers: {
      fetch: () => ({ rows: 1200 }),
      summarize(job) {
        const [fetched] = before(job.dependency_results) as Array<{ rows: number }>;
        return { lines: fetched!.rows / 100 };
      },
      email: (job) => `emailed ${(before(job.dependency_results)[0] as { lines: number }).lines} lines`,
      slack: () => "posted to #reports",
      done(job) {
        console.log(`done: ${before(job.dependency_results).join("; ")}`);
      },
      alert() {
        console.log("alert: the report failed");
      },
    },
  });

  const workflow = await client.workflows.create({
    chain: [
      { queue: "reports", type: "fetch", payload: { month: "2026-11" } },
      { queue: "reports", type: "summarize", payload: null },
      { group: [{ queue: "reports", type: "email", payload: "ada@example.com" }, { queue: "reports", type: "slack", payload: "#reports" }] },
    ],
    on_success: { queue: "reports", type: "done", payload: null },
    on_error: { queue: "reports", type: "alert", payload: null },
  });
  console.log(`workflow ${workflow.id}: ${workflow.jobs.length} steps`);

  const ran = await worker.drain();
  console.log(`ran ${ran.completed} jobs, ${ran.dead} dead`);
  const view = await client.workflows.get(workflow.id);
  console.log(`status: ${view.status}`);
  console.log(`results: ${view.steps.map((step) => JSON.stringify(view.results[step.id])).join(", ")}`);
  console.log(`callbacks: ${view.callbacks.map((callback) => `on ${callback.on} ${callback.status}`).join(", ")}`);
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
