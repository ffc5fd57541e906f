/**
 * The worker side of the benchmarks, run as its own process by worker-control.ts:
 * the SDK Worker over HTTP (MessagePack) with a no-op handler. Reports jobs
 * acknowledged and, for jobs that carry a send time, the enqueue-to-handler-start
 * latency, coalesced into one IPC message per REPORT_INTERVAL_MS.
 */
import { Client, connect, UnprocessableError, Worker, type Job } from "../src/index.js";
import type { EventsRequest, EventStream, QueryValue, TakeRequest, TakeStream, Transport, TransportResponse } from "../src/client/transport.js";
import { preciseNow } from "./clock.js";
import { JOB_TYPE } from "./load.js";
import { SENT_AT_FIELD, type ParentMessage, type WorkerConfig, type WorkerMessage } from "./protocol.js";

const REPORT_INTERVAL_MS = 10;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

function sendThenExit(message: WorkerMessage): void {
  if (!process.send) process.exit(0);
  process.send(message, () => process.exit(0));
}

/** Batches progress into at most one message per interval, sent shortly after the first change. */
class ProgressReporter {
  private acked = 0;
  private lastAckAt = 0;
  private failedAcks = 0;
  private latencies: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  addAcked(count: number): void {
    if (count === 0) return;
    this.acked += count;
    this.lastAckAt = preciseNow();
    this.schedule();
  }

  addFailedAcks(count: number): void {
    if (count === 0) return;
    this.failedAcks += count;
    this.schedule();
  }

  addLatency(ms: number): void {
    this.latencies.push(ms);
    this.schedule();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), REPORT_INTERVAL_MS);
  }

  flush(): void {
    send(this.take());
  }

  /** The progress since the last report, and stops the pending report. */
  take(): WorkerMessage {
    clearTimeout(this.timer);
    this.timer = undefined;
    const message: WorkerMessage = { kind: "progress", acked: this.acked, lastAckAt: this.lastAckAt, failedAcks: this.failedAcks, latencies: this.latencies };
    this.latencies = [];
    return message;
  }
}

function ackedIds(method: string, path: string, body: unknown): number {
  if (method !== "POST") return 0;
  if (path === "/jobs/success") return (body as { ids?: unknown[] } | undefined)?.ids?.length ?? 0;
  return /^\/jobs\/[^/]+\/success$/.test(path) ? 1 : 0;
}

/** Passes everything through to the HTTP transport and counts the acks that succeed. */
class AckCountingTransport implements Transport {
  constructor(private readonly inner: Transport, private readonly reporter: ProgressReporter) {}

  async request(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown): Promise<TransportResponse> {
    const acks = ackedIds(method, path, body);
    try {
      const response = await this.inner.request(method, path, query, body);
      if (acks > 0) this.reporter.addAcked(acks);
      return response;
    } catch (error) {
      const notFound = error instanceof UnprocessableError && Array.isArray(error.details?.not_found) ? error.details.not_found.length : acks;
      if (acks > 0) {
        this.reporter.addAcked(acks - notFound);
        this.reporter.addFailedAcks(notFound);
      }
      throw error;
    }
  }

  take(request: TakeRequest): TakeStream {
    return this.inner.take(request);
  }

  events(request: EventsRequest): EventStream {
    return this.inner.events(request);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function recordLatency(job: Job, reporter: ProgressReporter): void {
  const payload = job.payload;
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return;
  const sentAt = (payload as Record<string, unknown>)[SENT_AT_FIELD];
  if (typeof sentAt === "number") reporter.addLatency(preciseNow() - sentAt);
}

function readConfig(): WorkerConfig {
  const [json] = process.argv.slice(2);
  if (json === undefined) throw new Error("worker-process needs its config as a JSON argument");
  return JSON.parse(json) as WorkerConfig;
}

async function main(): Promise<void> {
  const config = readConfig();
  const reporter = new ProgressReporter();
  const client = new Client(new AckCountingTransport(connect(config.url, { format: "msgpack" }).transport, reporter));
  const worker = new Worker(client, {
    queues: config.queues,
    concurrency: config.concurrency,
    prefetch: config.prefetch,
    handlers: { [JOB_TYPE]: (job) => recordLatency(job, reporter) },
  });
  process.on("message", (message: ParentMessage) => {
    if (message.kind === "clock-probe") send({ kind: "clock-reply", probe: message.probe, workerNow: preciseNow() });
    if (message.kind === "stop") {
      void worker.stop().then(async () => {
        await client.close();
        sendThenExit(reporter.take());
      });
    }
  });
  // The parent dies or goes away: nothing left to report to.
  process.on("disconnect", () => process.exit(0));
  worker.start();
  send({ kind: "started" });
}

await main();
