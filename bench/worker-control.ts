/** The parent side of bench/worker-process.ts: starts it, follows its progress, stops it. */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { childEnv, exitWithin, hasExited, ROOT, track } from "./children.js";
import { setTimeout as sleep } from "node:timers/promises";
import { Deadline, preciseNow } from "./clock.js";
import { median } from "./stats.js";
import type { ParentMessage, WorkerConfig, WorkerMessage } from "./protocol.js";

const WORKER_SCRIPT = fileURLToPath(new URL("./worker-process.ts", import.meta.url));
const CLOCK_PROBES = 20;

export class WorkerProcess {
  /** Jobs the worker has acknowledged so far. */
  acked = 0;
  /** When the latest ack succeeded, on our clock (preciseNow); 0 before any. */
  lastAckAt = 0;
  failedAcks = 0;
  /** Enqueue-to-handler-start latencies in ms, corrected for the clock offset, since the last `takeLatencies`. */
  private latencies: number[] = [];
  /** Worker clock minus bench clock, in ms. */
  clockOffsetMs = 0;
  private readonly listeners = new Set<(message: WorkerMessage) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (message: WorkerMessage) => this.receive(message));
  }

  static async start(config: WorkerConfig, startTimeoutMs = 20_000): Promise<WorkerProcess> {
    const child = track(fork(WORKER_SCRIPT, [JSON.stringify(config)], { cwd: ROOT, env: childEnv(), execArgv: ["--import", "tsx"] }));
    const worker = new WorkerProcess(child);
    try {
      await worker.next("started", startTimeoutMs);
      worker.clockOffsetMs = await worker.measureClockOffset();
      return worker;
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
  }

  private receive(message: WorkerMessage): void {
    if (message.kind === "progress") {
      this.acked = message.acked;
      if (message.lastAckAt > 0) this.lastAckAt = message.lastAckAt - this.clockOffsetMs;
      this.failedAcks = message.failedAcks;
      for (const latency of message.latencies) this.latencies.push(latency - this.clockOffsetMs);
    }
    for (const listener of this.listeners) listener(message);
  }

  private post(message: ParentMessage): void {
    this.child.send(message);
  }

  /** The next message of a kind; rejects when the worker exits or the time runs out first. */
  private next<K extends WorkerMessage["kind"]>(kind: K, timeoutMs: number): Promise<Extract<WorkerMessage, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        this.child.off("exit", exited);
      };
      const listener = (message: WorkerMessage): void => {
        if (message.kind !== kind) return;
        done();
        resolve(message as Extract<WorkerMessage, { kind: K }>);
      };
      const exited = (): void => {
        done();
        reject(new Error(`worker process exited while waiting for "${kind}"`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`worker process sent no "${kind}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(listener);
      this.child.once("exit", exited);
    });
  }

  /** Round trips over IPC; the worker's clock minus ours at the midpoint, median of several. */
  private async measureClockOffset(): Promise<number> {
    const offsets: number[] = [];
    for (let probe = 0; probe < CLOCK_PROBES; probe++) {
      const sentAt = preciseNow();
      const reply = this.next("clock-reply", 5000);
      this.post({ kind: "clock-probe", probe });
      const { workerNow } = await reply;
      offsets.push(workerNow - (sentAt + preciseNow()) / 2);
    }
    return median(offsets);
  }

  /** Latency samples received since the last call. */
  takeLatencies(): number[] {
    const taken = this.latencies;
    this.latencies = [];
    return taken;
  }

  get latencyCount(): number {
    return this.latencies.length;
  }

  get exited(): boolean {
    return hasExited(this.child);
  }

  /** Waits until `done()` holds or the deadline passes; true when it held. */
  waitUntil(done: () => boolean, deadline: Deadline, pollMs = 2): Promise<boolean> {
    return pollUntil(done, deadline, () => this.exited, pollMs);
  }

  /** Asks the worker to stop (it finishes, acks and hands back unstarted jobs), killing it if it takes too long. */
  async stop(graceMs = 15_000): Promise<void> {
    if (hasExited(this.child)) return;
    if (this.child.connected) this.post({ kind: "stop" });
    else this.child.kill("SIGTERM");
    await exitWithin(this.child, graceMs);
  }
}

/** Worker processes followed as one: their acks summed, the latest ack of any of them. */
export class WorkerGroup {
  constructor(readonly members: readonly WorkerProcess[]) {}

  get acked(): number {
    return this.members.reduce((sum, worker) => sum + worker.acked, 0);
  }

  get lastAckAt(): number {
    return Math.max(0, ...this.members.map((worker) => worker.lastAckAt));
  }

  get failedAcks(): number {
    return this.members.reduce((sum, worker) => sum + worker.failedAcks, 0);
  }

  /** Waits until `done()` holds or the deadline passes; false as soon as any member has exited. */
  waitUntil(done: () => boolean, deadline: Deadline, pollMs = 2): Promise<boolean> {
    return pollUntil(done, deadline, () => this.members.some((worker) => worker.exited), pollMs);
  }
}

/** Polls `done()` until it holds (true), or the deadline passes or `gone()` holds (false). */
async function pollUntil(done: () => boolean, deadline: Deadline, gone: () => boolean, pollMs: number): Promise<boolean> {
  while (!done()) {
    if (deadline.passed || gone()) return false;
    await sleep(pollMs);
  }
  return true;
}
