/**
 * The process of the in-process Wharf system: `open()` on a SQLite file (fsync), the SDK Worker on that
 * same client, and the enqueue workloads, all here; the parent calls them over IPC (one message per
 * workload, not per job, so IPC costs nothing measurable).
 */
import { join } from "node:path";
import { open, type InProcessClient, type Worker } from "../../src/index.js";
import type { BenchPayload } from "./system.js";
import { startBenchWorker, UNFINISHED, wharfJob, type BenchJobs } from "./wharf-worker.js";
import type { CallMessage, CallName, ChildMessage, InProcessCalls, InProcessConfig } from "./wharf-in-process-protocol.js";
import { enqueueWorkloads } from "./workloads.js";

const REPORT_INTERVAL_MS = 50;

const send = (message: ChildMessage): void => void process.send!(message);

type Handlers = { [K in CallName]: (...args: InProcessCalls[K]["args"]) => Promise<InProcessCalls[K]["result"]> };

function handlers(client: InProcessClient<BenchJobs>, config: InProcessConfig): Handlers {
  const system = {
    enqueue: async (payload: BenchPayload) => void (await client.enqueue(wharfJob(payload))),
    enqueueBulk: async (payloads: BenchPayload[]) => void (await client.enqueueBulk(payloads.map(wharfJob))),
  };
  const workloads = enqueueWorkloads(system);
  let worker: Worker<BenchJobs> | undefined;
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    send({ kind: "started", latenciesMs: pending });
    pending = [];
  };
  const reporter = setInterval(flush, REPORT_INTERVAL_MS);
  const stopWorker = async (): Promise<null> => {
    await worker?.stop();
    worker = undefined;
    flush();
    return null;
  };
  return {
    enqueue: async (payload) => (await system.enqueue(payload), null),
    enqueueBulk: async (payloads) => (await system.enqueueBulk(payloads), null),
    oneByOne: (...args) => workloads.oneByOne(...args),
    inBulks: (...args) => workloads.inBulks(...args),
    paced: (...args) => workloads.paced(...args),
    remaining: () => client.countJobs({ status: [...UNFINISHED] }),
    async startWorker() {
      worker ??= startBenchWorker(client, config, (payload) => pending.push(Date.now() - payload.sentAt));
      return null;
    },
    stopWorker,
    async close() {
      await stopWorker();
      clearInterval(reporter);
      await client.close();
      return null;
    },
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as InProcessConfig;
  const client = await open<BenchJobs>({ store: `sqlite:${join(config.dataDir, "wharf.db")}`, durability: "fsync" });
  const calls = handlers(client, config);
  process.on("message", (message: CallMessage) => {
    const call = calls[message.call] as (...args: unknown[]) => Promise<unknown>;
    call(...message.args).then(
      (result) => {
        const reply: ChildMessage = { kind: "reply", id: message.id, result };
        if (message.call === "close") process.send!(reply, () => process.exit(0));
        else send(reply);
      },
      (error: unknown) => send({ kind: "reply", id: message.id, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
    );
  });
  send({ kind: "ready" });
}

if (process.send !== undefined) void main();
