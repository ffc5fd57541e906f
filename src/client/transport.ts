import type { ControlSink, TakeOptions } from "../engine/dispatch.js";
import type { EventFilter, WharfEvent } from "../engine/events.js";
import type { Job } from "../job/types.js";
import type { AnyJobs, Job as JobView } from "./jobs.js";

export type QueryValue = string | number | undefined;

export interface TransportResponse {
  status: number;
  body: unknown;
}

/**
 * What a take stream asks for: the engine's own take options, and where its control frames go (a run
 * of a job it holds was cancelled); without `onControl` the server sends none.
 */
export type TakeRequest = TakeOptions & { onControl?: ControlSink };

/** A query as URL search parameters; undefined values are left out. */
export function searchParams(query: Record<string, QueryValue> | undefined): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(name, String(value));
  return params;
}

/** Jobs leased to one take stream, in order; iteration ends when the stream closes or breaks. */
export interface TakeStream<Jobs = AnyJobs> extends AsyncIterable<JobView<Jobs>> {
  /** Ends the stream; resolves once the server has taken back every job the stream still held. */
  close(): Promise<void>;
}

/** What an event stream asks for: the events that pass the filter, after the cursor when given. */
export interface EventsRequest {
  filter: Pick<EventFilter, "queues" | "types" | "kinds">;
  after?: string;
}

/** Events in order, as they happen; iteration ends when the stream closes or breaks. */
export interface EventStream extends AsyncIterable<WharfEvent> {
  /** Resolves once the server watches for this stream: every event after that reaches it. */
  readonly opened: Promise<void>;
  close(): Promise<void>;
}

/**
 * How a Client reaches an engine: over HTTP, or in-process. Both speak the
 * same API (paths, query parameters, bodies); errors arrive as WharfErrors.
 */
export interface Transport {
  request(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown): Promise<TransportResponse>;
  take(request: TakeRequest): TakeStream;
  events(request: EventsRequest): EventStream;
  close(): Promise<void>;
}

/** A push-to-pull queue behind a TakeStream or an EventStream. */
export class JobChannel<T = Job> implements AsyncIterable<T> {
  private readonly buffered: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private failWaiting: ((error: unknown) => void) | undefined;
  private ended = false;
  private failure: unknown;

  push(jobs: T[]): void {
    if (this.ended) return;
    for (const job of jobs) {
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = undefined;
        this.failWaiting = undefined;
        resolve({ value: job, done: false });
      } else {
        this.buffered.push(job);
      }
    }
  }

  /** Ends iteration, with an error when the stream broke rather than was closed. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    if (this.waiting) {
      const [resolve, reject] = [this.waiting, this.failWaiting!];
      this.waiting = undefined;
      this.failWaiting = undefined;
      if (error === undefined) resolve({ value: undefined, done: true });
      else reject(error);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const job = this.buffered.shift();
        if (job) return Promise.resolve({ value: job, done: false });
        if (this.ended) {
          return this.failure === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.failure);
        }
        return new Promise((resolve, reject) => {
          this.waiting = resolve;
          this.failWaiting = reject;
        });
      },
    };
  }
}
