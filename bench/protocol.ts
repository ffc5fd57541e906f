/** Messages between the bench process and bench/worker-process.ts, over the fork() IPC channel. */

/** How the worker process is configured; passed as one JSON argument. */
export interface WorkerConfig {
  url: string;
  queues: string[];
  concurrency: number;
  prefetch: number;
}

/** The payload field that carries the bench's send time (ms, sub-ms precision) for latency jobs. */
export const SENT_AT_FIELD = "sent_at";

export type ParentMessage =
  | { kind: "clock-probe"; probe: number }
  | { kind: "stop" };

export type WorkerMessage =
  | { kind: "started" }
  | { kind: "clock-reply"; probe: number; workerNow: number }
  /**
   * acked: jobs acknowledged so far (their ack request succeeded); lastAckAt: when the latest ack
   * succeeded; latencies: handler start minus sent_at for jobs since the last report. Times are
   * worker-clock ms (preciseNow).
   */
  | { kind: "progress"; acked: number; lastAckAt: number; failedAcks: number; latencies: number[] };
