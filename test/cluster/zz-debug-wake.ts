import { systemClock } from "../../src/index.js";
import { startPostgres, createDatabase } from "../helpers/postgres.js";
import { startTestServer } from "../helpers/server.js";
import { openTake } from "../helpers/take.js";

const cluster = await startPostgres();
let misses = 0;
const delay = Number(process.env.DELAY ?? 0);
try {
  for (let round = 0; round < 40; round++) {
    const db = await createDatabase(cluster.url);
    const [a, b] = await Promise.all([0, 1].map(() => startTestServer({ store: db, clock: systemClock, maintenanceIntervalMs: 30_000 })));
    await new Promise((r) => setTimeout(r, delay));
    const stream = openTake(b!.url, { queue: "q", prefetch: 1 });
    await stream.opened;
    const r = await fetch(a!.url + "/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ queue: "q", type: "t", payload: {} }) });
    await r.json();
    const got = await stream.next(2000);
    if (!got) misses++;
    stream.close();
    await a!.close(); await b!.close();
  }
  console.log("delay", delay, "misses", misses);
} finally { await cluster.stop(); }
