/**
 * Wharf in-process on SQLite: `open()` (fsync) in a child process that also runs the SDK Worker and the
 * enqueue workloads (bench/peers/wharf-in-process-child.ts), so every job goes through that one engine.
 * The child is both "server" and worker: its pid is counted once.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { VERSION } from "../../src/version.js";
import { childEnv, exitWithin, ROOT, track } from "../children.js";
import type { BenchPayload, BenchSystem, RunningSystem, WorkerHandle } from "./system.js";
import { WHARF_PREFETCH } from "./wharf-worker.js";
import type { CallMessage, CallName, ChildMessage, InProcessCalls, InProcessConfig } from "./wharf-in-process-protocol.js";
import type { EnqueueWorkloads, HostsWorkloads } from "./workloads.js";

const CHILD_MODULE = fileURLToPath(new URL("./wharf-in-process-child.ts", import.meta.url));
const START_TIMEOUT_MS = 30_000;
const CLOSE_GRACE_MS = 15_000;

class EngineProcess {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly latencies: number[] = [];

  private constructor(readonly child: ChildProcess) {
    child.on("message", (message: ChildMessage) => {
      if (message.kind === "started") this.latencies.push(...message.latenciesMs);
      if (message.kind !== "reply") return;
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if ("error" in message) waiter?.reject(new Error(`in-process Wharf: ${message.error}`));
      else waiter?.resolve(message.result);
    });
    child.once("exit", (code) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`in-process Wharf exited with ${code}`));
      this.waiting.clear();
    });
  }

  static start(config: InProcessConfig): Promise<EngineProcess> {
    const child = track(fork(CHILD_MODULE, [JSON.stringify(config)], { cwd: ROOT, env: childEnv(), execArgv: ["--import", "tsx"] }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`in-process Wharf did not open within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.once("exit", (code) => reject(new Error(`in-process Wharf exited with ${code} before it opened`)));
      child.once("message", (message: ChildMessage) => {
        clearTimeout(timer);
        if (message.kind === "ready") resolve(new EngineProcess(child));
        else reject(new Error(`in-process Wharf: unexpected first message ${message.kind}`));
      });
    });
  }

  call<K extends CallName>(call: K, ...args: InProcessCalls[K]["args"]): Promise<InProcessCalls[K]["result"]> {
    const id = this.nextId++;
    const message: CallMessage = { id, call, args };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send(message);
    });
  }
}

class RunningInProcess implements RunningSystem, HostsWorkloads {
  readonly workloads: EnqueueWorkloads;

  constructor(private readonly engine: EngineProcess) {
    this.workloads = {
      oneByOne: (...args) => engine.call("oneByOne", ...args),
      inBulks: (...args) => engine.call("inBulks", ...args),
      paced: (...args) => engine.call("paced", ...args),
    };
  }

  async serverPids(): Promise<number[]> {
    return [this.engine.child.pid!];
  }

  async enqueue(payload: BenchPayload): Promise<void> {
    await this.engine.call("enqueue", payload);
  }

  async enqueueBulk(payloads: BenchPayload[]): Promise<void> {
    await this.engine.call("enqueueBulk", payloads);
  }

  async startWorker(): Promise<WorkerHandle> {
    const { engine } = this;
    await engine.call("startWorker");
    return {
      pid: engine.child.pid!,
      started: () => engine.latencies.length,
      latenciesMs: () => engine.latencies,
      stop: async () => void (await engine.call("stopWorker")),
    };
  }

  remaining(): Promise<number> {
    return this.engine.call("remaining");
  }

  async close(): Promise<void> {
    await Promise.race([this.engine.call("close").catch(() => null), exitWithin(this.engine.child, CLOSE_GRACE_MS)]);
    await exitWithin(this.engine.child, CLOSE_GRACE_MS);
  }
}

export const wharfInProcess: BenchSystem = {
  name: "Wharf, in-process on SQLite",
  notes: `open() with durability fsync and the SDK Worker (prefetch ${WHARF_PREFETCH}) in one process that also runs the enqueue workloads; its pid counts as server and worker, once; (a) through \`enqueue()\`, which coalesces the calls of one turn (its default)`,
  versions: async () => ({ "wharf-queue": VERSION }),
  async start(context) {
    return new RunningInProcess(await EngineProcess.start({ dataDir: context.dataDir, concurrency: context.concurrency, prefetch: WHARF_PREFETCH }));
  },
};
