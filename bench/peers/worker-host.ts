/**
 * Runs a system's worker in a process of its own: `forkWorker(module, config)` forks this file, which
 * imports the module and calls its `runWorker(config, jobStarted)`; handler starts come back in batches.
 *
 * A worker module exports:
 *   export async function runWorker(config: C, jobStarted: (payload: BenchPayload) => void): Promise<() => Promise<void>>
 * resolving once the worker is taking jobs, to a function that stops it.
 */
import { fork } from "node:child_process";
import { pathToFileURL } from "node:url";
import { childEnv, exitWithin, ROOT, track } from "../children.js";
import type { BenchPayload, WorkerHandle } from "./system.js";

type WorkerModule = {
  runWorker(config: unknown, jobStarted: (payload: BenchPayload) => void): Promise<() => Promise<void>>;
};

type ToParent = { kind: "ready" } | { kind: "started"; latenciesMs: number[] } | { kind: "stopped" } | { kind: "failed"; error: string };

const REPORT_INTERVAL_MS = 50;
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

export function forkWorker(modulePath: string, config: unknown): Promise<WorkerHandle> {
  const child = track(fork(new URL(import.meta.url).pathname, [modulePath, JSON.stringify(config)], { cwd: ROOT, env: childEnv(), execArgv: ["--import", "tsx"] }));
  const latencies: number[] = [];
  let stopped: (() => void) | undefined;
  return new Promise<WorkerHandle>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${modulePath} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.once("exit", (code) => reject(new Error(`worker ${modulePath} exited with ${code} before it started`)));
    child.on("message", (message: ToParent) => {
      if (message.kind === "started") latencies.push(...message.latenciesMs);
      else if (message.kind === "stopped") stopped?.();
      else if (message.kind === "failed") reject(new Error(`worker ${modulePath}: ${message.error}`));
      else {
        clearTimeout(timer);
        resolve({
          pid: child.pid!,
          started: () => latencies.length,
          latenciesMs: () => latencies,
          stop: async () => {
            const done = new Promise<void>((resolveStop) => { stopped = resolveStop; });
            child.send("stop");
            await Promise.race([done, exitWithin(child, STOP_GRACE_MS)]);
            await exitWithin(child, STOP_GRACE_MS);
          },
        });
      }
    });
  });
}

async function main(): Promise<void> {
  const [modulePath, configJson] = process.argv.slice(2);
  const send = (message: ToParent): void => void process.send!(message);
  try {
    const module = (await import(pathToFileURL(modulePath!).href)) as WorkerModule;
    let pending: number[] = [];
    const flush = setInterval(() => {
      if (pending.length === 0) return;
      send({ kind: "started", latenciesMs: pending });
      pending = [];
    }, REPORT_INTERVAL_MS);
    const stop = await module.runWorker(JSON.parse(configJson!), (payload) => pending.push(Date.now() - payload.sentAt));
    send({ kind: "ready" });
    process.on("message", (message) => {
      if (message !== "stop") return;
      void stop().finally(() => {
        clearInterval(flush);
        if (pending.length > 0) send({ kind: "started", latenciesMs: pending });
        send({ kind: "stopped" });
        process.disconnect();
      });
    });
  } catch (error) {
    send({ kind: "failed", error: error instanceof Error ? error.stack ?? error.message : String(error) });
    process.exit(1);
  }
}

if (process.send !== undefined && process.argv[1] === new URL(import.meta.url).pathname) void main();
