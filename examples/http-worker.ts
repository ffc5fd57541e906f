/**
 * A Wharf server and a worker talking to it over HTTP. In production the
 * server runs on its own (`wharf serve`) and workers `connect` to its URL.
 *
 *   node --import tsx examples/http-worker.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, startServer, Worker } from "wharf-queue";

const dir = mkdtempSync(join(tmpdir(), "wharf-http-example-"));
// Port 0 picks a free port; the server's URL says which.
const server = await startServer({ port: 0, dataDir: dir, logLevel: "warn" });
console.log(`Wharf listening on ${server.url}`);

// MessagePack bodies are smaller and faster to parse than JSON; both work.
const client = connect(server.url, { format: "msgpack" });
try {
  const squares: number[] = [];
  const worker = new Worker(client, {
    queues: ["math"],
    concurrency: 4,
    handlers: {
      square(job) {
        const { n } = job.payload as { n: number };
        squares.push(n * n);
      },
    },
  }).start();

  await client.enqueueBulk([1, 2, 3, 4, 5].map((n) => ({ queue: "math", type: "square", payload: { n } })));

  // Wait (at most 5 s) until every job has been processed and acknowledged.
  const deadline = Date.now() + 5000;
  while ((await client.countJobs({ queue: "math" })) > 0) {
    if (Date.now() > deadline) throw new Error("the jobs were not processed in time");
    await sleep(20);
  }
  await worker.stop();
  console.log(`squares: ${squares.sort((a, b) => a - b).join(", ")}`);
} finally {
  await client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
