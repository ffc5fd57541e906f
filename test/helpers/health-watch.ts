/** /health latency beside other work, measured from a thread of its own. */
import { rmSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { killAllChildren, spawnServer, type SpawnedServer } from "./cli.js";
import { createDatabase } from "./postgres.js";
import { tempDir, TEST_STORE } from "./server.js";

/**
 * /health, polled every 10 ms beside the fuzzing from a thread of its own (the fuzzer's work on the
 * main thread would otherwise count against the server): the slowest answer, and the request the
 * fuzzer was sending at the time.
 */
const HEALTH_POLLER = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let running = true, max = 0, at = 0, failures = 0;
parentPort.on("message", () => { running = false; });
const once = () => new Promise((resolve) => {
  const started = performance.now();
  const request = http.get(workerData.url + "/health", { agent }, (response) => {
    response.resume();
    response.on("end", () => resolve({ ok: response.statusCode === 200, took: performance.now() - started }));
  });
  request.on("error", () => resolve({ ok: false, took: performance.now() - started }));
});
(async () => {
  while (running) {
    const { ok, took } = await once();
    if (!ok) failures++;
    if (took > max) { max = took; at = Date.now(); }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  parentPort.postMessage({ max, at, failures });
})();
`;

export class HealthWatch {
  private readonly worker: Worker;
  private readonly labels: Array<[number, string]> = [];
  constructor(url: string) {
    this.worker = new Worker(HEALTH_POLLER, { eval: true, workerData: { url } });
  }
  set current(label: string) {
    this.labels.push([Date.now(), label]);
  }
  async stop(): Promise<{ max: number; beside: string; failures: number }> {
    const result = new Promise<{ max: number; at: number; failures: number }>((resolve) => this.worker.once("message", resolve));
    this.worker.postMessage("stop");
    const { max, at, failures } = await result;
    await this.worker.terminate();
    const started = at - max;
    const beside = this.labels.filter(([time], i) => time <= at && (this.labels[i + 1]?.[0] ?? Infinity) >= started).map(([, label]) => label);
    return { max, beside: beside.join("; ").slice(0, 600) || "(between requests)", failures };
  }
}


/** A server child on a data directory of its own (on PostgreSQL when the suite runs there), and its slowest /health over a second idle. */
export interface WatchedServer {
  server: SpawnedServer;
  dataDir: string;
  /** What a loaded machine adds by itself: budgets are measured on top of it. */
  idleMaxMs: number;
  stop(): Promise<void>;
}

export async function spawnWatchedServer(prefix: string, extraArgs: string[]): Promise<WatchedServer> {
  const dataDir = tempDir(prefix);
  const args = [...extraArgs];
  if (TEST_STORE === "postgres") args.push("--store", await createDatabase(process.env.WHARF_TEST_POSTGRES_URL!));
  const server = await spawnServer({ dataDir, extraArgs: args });
  const idle = new HealthWatch(server.url);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const idleMaxMs = (await idle.stop()).max;
  return {
    server,
    dataDir,
    idleMaxMs,
    async stop() {
      await server.stop();
      await killAllChildren();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
