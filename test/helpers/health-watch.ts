/** /health latency beside other work, measured from a thread of its own. */
import { Worker } from "node:worker_threads";

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

