/**
 * PostgreSQL: two Wharf engines share one database, as two servers behind a load balancer would.
 * A job enqueued inside your own transaction exists only if you commit; whichever engine has a
 * worker takes it; unique keys hold across engines.
 *
 *   WHARF_POSTGRES_URL=postgres://user@localhost:5432/mydb node --import tsx examples/postgres.ts
 *
 * Wharf creates its tables in that database (and this example an `example_orders` table).
 */
import pg from "pg";
import { open, Worker } from "wharf-queue";
import { enqueueWithin } from "wharf-queue/postgres";

const url = process.env.WHARF_POSTGRES_URL;
if (!url) {
  console.error("set WHARF_POSTGRES_URL to a postgres:// URL of a database Wharf may create tables in");
  process.exit(2);
}

// Two engines on one database: `wharf serve --store <url>` on two machines is the same thing over HTTP.
const serverA = await open({ store: url });
const serverB = await open({ store: url });
const db = new pg.Client({ connectionString: url });
await db.connect();

try {
  await db.query("CREATE TABLE IF NOT EXISTS example_orders (id INTEGER PRIMARY KEY)");
  let sent: (order: number) => void = () => {};
  const receiptSent = new Promise<number>((resolve) => {
    sent = resolve;
  });
  const worker = new Worker(serverA, {
    queues: ["receipts"],
    handlers: {
      async receipt(job) {
        sent((job.payload as { order: number }).order);
      },
    },
  }).start();

  // The job and the order commit together, or neither does.
  await db.query("BEGIN");
  await db.query("INSERT INTO example_orders (id) VALUES (41)");
  await enqueueWithin(db, [{ queue: "receipts", type: "receipt", payload: { order: 41 } }]);
  await db.query("ROLLBACK");
  console.log(`after a rollback: ${await serverB.countJobs({ queue: "receipts" })} receipt jobs`);

  await db.query("BEGIN");
  await db.query("INSERT INTO example_orders (id) VALUES (42)");
  await enqueueWithin(db, [{ queue: "receipts", type: "receipt", payload: { order: 42 } }]);
  await db.query("COMMIT");
  console.log(`after the commit, server A's worker sent the receipt for order ${await receiptSent}`);
  await worker.stop();

  // A unique key is a database constraint: the second engine sees the first engine's job.
  const first = await serverA.enqueue({ queue: "reports", type: "nightly", payload: {}, unique_key: "nightly-report" });
  const again = await serverB.enqueue({ queue: "reports", type: "nightly", payload: {}, unique_key: "nightly-report" });
  console.log(`the same unique key through server B: duplicate=${again.duplicate}, same job: ${again.id === first.id}`);
  await serverA.deleteJobs({ queue: "reports" });
} finally {
  await db.query("DROP TABLE IF EXISTS example_orders");
  await db.end();
  await Promise.all([serverA.close(), serverB.close()]);
}
