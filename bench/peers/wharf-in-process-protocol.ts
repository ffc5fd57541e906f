/** Messages between the in-process Wharf system (parent) and the process that holds its engine. */
import type { LoadResult, PacedResult } from "../load.js";
import type { BenchPayload } from "./system.js";

export interface InProcessCalls {
  enqueue: { args: [BenchPayload]; result: null };
  enqueueBulk: { args: [BenchPayload[]]; result: null };
  oneByOne: { args: [total: number, inFlight: number, maxSeconds: number]; result: LoadResult };
  inBulks: { args: [total: number, bulkSize: number, maxSeconds: number]; result: LoadResult };
  paced: { args: [rate: number, seconds: number]; result: PacedResult };
  remaining: { args: []; result: number };
  startWorker: { args: []; result: null };
  stopWorker: { args: []; result: null };
  close: { args: []; result: null };
}

export type CallName = keyof InProcessCalls;

export interface CallMessage {
  id: number;
  call: CallName;
  args: unknown[];
}

export type ChildMessage =
  | { kind: "ready" }
  | { kind: "reply"; id: number; result: unknown }
  | { kind: "reply"; id: number; error: string }
  | { kind: "started"; latenciesMs: number[] };

export interface InProcessConfig {
  dataDir: string;
  concurrency: number;
  prefetch: number;
}
