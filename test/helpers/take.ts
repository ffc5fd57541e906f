/**
 * A raw take stream (GET /jobs/take) opened with fetch, independent of the SDK.
 * Parses every stream format the server offers: NDJSON, the Zizq
 * length-prefixed MessagePack stream and server-sent events; counts the
 * heartbeat frames of each.
 */
import { packr } from "../../src/http/codec.js";
import type { Job } from "../../src/job/types.js";

export const STREAM_MEDIA = {
  ndjson: "application/x-ndjson",
  msgpack: "application/vnd.zizq.msgpack-stream",
  sse: "text/event-stream",
} as const;

export interface TakeOptions {
  queue?: string;
  /** The types= parameter (a comma list), sent as given. */
  types?: string;
  /** Sent as given; 1 when omitted. */
  prefetch?: number;
  /** The Accept header; NDJSON when omitted. */
  accept?: string;
  workerId?: string;
  /** Asks for control frames (controls=true); they arrive among the jobs, as the objects they are. */
  controls?: boolean;
  /** Longest wait for the response headers, in ms. */
  openTimeoutMs?: number;
  /** Sent as Authorization: Bearer TOKEN. */
  token?: string;
}

export interface RawTakeStream {
  /** Every job received so far, in arrival order. */
  readonly received: Job[];
  /** Heartbeat frames received so far (the server sends one at once to flush the headers). */
  readonly heartbeats: number;
  /** Resolves once a 200 with headers arrived (the stream is registered on the server); rejects otherwise. */
  readonly opened: Promise<void>;
  /** HTTP status and Content-Type, once known. */
  readonly status: number | undefined;
  readonly contentType: string | undefined;
  /** Set when the stream broke or ended. */
  readonly ended: boolean;
  readonly error: Error | undefined;
  /** The next job not yet returned; undefined when the stream ended or `timeoutMs` passed. */
  next(timeoutMs: number): Promise<Job | undefined>;
  /** Like `next`, but a timeout or a closed stream is a test failure. */
  nextJob(timeoutMs?: number): Promise<Job>;
  /** Waits until at least `count` heartbeat frames have arrived in total. */
  waitForHeartbeats(count: number, timeoutMs?: number): Promise<void>;
  /** Aborts the request, which closes the stream on the server. */
  close(): void;
}

export type FrameParser = (chunk: Uint8Array) => void;

function ndjsonParser(onJob: (job: Job) => void, onHeartbeat: () => void): FrameParser {
  const decoder = new TextDecoder();
  let pending = "";
  return (chunk) => {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.trim() === "") onHeartbeat();
      else onJob(JSON.parse(line) as Job);
    }
  };
}

function sseParser(onJob: (job: Job) => void, onHeartbeat: () => void): FrameParser {
  const decoder = new TextDecoder();
  let pending = "";
  return (chunk) => {
    pending += decoder.decode(chunk, { stream: true });
    const events = pending.split("\n\n");
    pending = events.pop()!;
    for (const event of events) {
      const lines = event.split("\n");
      const data = lines.filter((line) => line.startsWith("data:")).map((line) => line.slice(5).replace(/^ /, ""));
      if (data.length > 0) onJob(JSON.parse(data.join("\n")) as Job);
      else if (lines.some((line) => line.startsWith(":"))) onHeartbeat();
    }
  };
}

function msgpackStreamParser(onJob: (job: Job) => void, onHeartbeat: () => void): FrameParser {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (pending.length < 4 + length) break;
      const frame = pending.subarray(4, 4 + length);
      pending = pending.subarray(4 + length);
      if (length === 0) onHeartbeat();
      else onJob(packr.unpack(frame) as Job);
    }
  };
}

/** A parser for a take stream's body, chosen by its Content-Type: jobs to `onJob`, heartbeat frames to `onHeartbeat`. */
export function streamParser(contentType: string, onJob: (job: Job) => void, onHeartbeat: () => void): FrameParser {
  if (contentType.startsWith(STREAM_MEDIA.msgpack)) return msgpackStreamParser(onJob, onHeartbeat);
  if (contentType.startsWith(STREAM_MEDIA.sse)) return sseParser(onJob, onHeartbeat);
  if (contentType.startsWith(STREAM_MEDIA.ndjson)) return ndjsonParser(onJob, onHeartbeat);
  throw new Error(`take stream has unexpected content-type "${contentType}"`);
}

export function openTake(baseUrl: string, options: TakeOptions = {}): RawTakeStream {
  const query = new URLSearchParams();
  if (options.queue !== undefined) query.set("queue", options.queue);
  if (options.types !== undefined) query.set("types", options.types);
  query.set("prefetch", String(options.prefetch ?? 1));
  if (options.controls) query.set("controls", "true");
  const headers: Record<string, string> = { accept: options.accept ?? STREAM_MEDIA.ndjson };
  if (options.workerId !== undefined) headers["worker-id"] = options.workerId;
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;

  const received: Job[] = [];
  let heartbeats = 0;
  let cursor = 0;
  let ended = false;
  let error: Error | undefined;
  let status: number | undefined;
  let contentType: string | undefined;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const wake of [...waiters]) wake();
  };
  const finish = (cause?: Error): void => {
    if (ended) return;
    ended = true;
    error = cause;
    notify();
  };
  /** Waits until `ready()` holds, the stream ends or `timeoutMs` passes; true when `ready()` holds. */
  const waitFor = async (ready: () => boolean, timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (ended || left <= 0) return false;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        waiters.add(wake);
      });
    }
    return true;
  };

  const controller = new AbortController();
  const openTimer = setTimeout(() => controller.abort(new Error("take stream did not open in time")), options.openTimeoutMs ?? 5000);
  const opened = (async () => {
    const response = await fetch(`${baseUrl}/jobs/take?${query}`, { headers, signal: controller.signal });
    clearTimeout(openTimer);
    status = response.status;
    contentType = response.headers.get("content-type") ?? "";
    if (response.status !== 200) {
      const body = await response.text().catch(() => "");
      throw new Error(`take answered HTTP ${response.status}: ${body}`);
    }
    if (!response.body) throw new Error("take answered without a body");
    const parse = streamParser(
      contentType,
      (job) => {
        received.push(job);
        notify();
      },
      () => {
        heartbeats++;
        notify();
      },
    );
    const reader = response.body.getReader();
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parse(value);
        }
        finish(new Error("take stream ended"));
      } catch (cause) {
        finish(cause as Error);
      }
    })();
  })();
  opened.catch((cause: Error) => {
    clearTimeout(openTimer);
    finish(cause);
  });

  const stream: RawTakeStream = {
    received,
    opened,
    get heartbeats() {
      return heartbeats;
    },
    get status() {
      return status;
    },
    get contentType() {
      return contentType;
    },
    get ended() {
      return ended;
    },
    get error() {
      return error;
    },
    async next(timeoutMs) {
      if (!(await waitFor(() => cursor < received.length, timeoutMs))) return undefined;
      return received[cursor++];
    },
    async nextJob(timeoutMs = 5000) {
      const job = await stream.next(timeoutMs);
      if (job === undefined) {
        const why = ended ? `the stream ended (${error?.message ?? "closed"})` : `nothing arrived in ${timeoutMs} ms`;
        throw new Error(`expected a job on the take stream, but ${why}`);
      }
      return job;
    },
    async waitForHeartbeats(count, timeoutMs = 5000) {
      if (!(await waitFor(() => heartbeats >= count, timeoutMs))) {
        throw new Error(`expected ${count} heartbeat frames, got ${heartbeats} (${ended ? "stream ended" : "timed out"})`);
      }
    },
    close() {
      finish();
      controller.abort();
    },
  };
  return stream;
}
