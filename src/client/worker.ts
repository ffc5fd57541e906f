import { hostname } from "node:os";
import { WorkerUsageError } from "../errors.js";
import type { Job } from "../job/types.js";
import type { Client } from "./client.js";
import type { TakeStream } from "./transport.js";

export interface JobContext {
  /** Aborted when the worker's shutdown deadline passes while this job still runs. */
  signal: AbortSignal;
  /** Extends this job's lease on the server; call it from long-running handlers. */
  heartbeat(): Promise<void>;
}

export type JobHandler = (job: Job, context: JobContext) => unknown;
export type Middleware = (job: Job, context: JobContext, next: () => Promise<void>) => Promise<void>;

/** Throw from a handler to have the job retried at a given time instead of by backoff. */
export class RetryAtError extends Error {
  readonly retryAt: number;
  constructor(retryAt: Date | number, message = "retry requested") {
    super(message);
    this.name = "RetryAtError";
    this.retryAt = typeof retryAt === "number" ? retryAt : retryAt.getTime();
  }
}

/** Throw from a handler to make the job dead at once, with no further retries. */
export class KillJobError extends Error {
  constructor(message = "job killed by its handler") {
    super(message);
    this.name = "KillJobError";
  }
}

export interface WorkerOptions {
  /** Queues to take from: at least one. */
  queues: string[];
  /** Handlers running at once, at most. Default 10. */
  concurrency?: number;
  /** Jobs leased ahead of the handlers. Default: equal to concurrency. */
  prefetch?: number;
  handlers?: Record<string, JobHandler>;
  middleware?: Middleware[];
  /** Acks sent in one request, at most. */
  ackBatchSize?: number;
  /** How long `stop()` lets running handlers finish, in ms. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** Reconnect delays after the server goes away: doubles from min to max, in ms. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  workerId?: string;
  /** Told about handler failures and connection trouble; defaults to one JSON line on stderr. */
  onError?: (error: unknown, job?: Job) => void;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // An abort listener added to an already aborted signal never fires.
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

function describeError(error: unknown): { message: string; error_type: string; backtrace?: string } {
  if (error instanceof Error) {
    const described: { message: string; error_type: string; backtrace?: string } = { message: error.message || error.name, error_type: error.name };
    if (error.stack) described.backtrace = error.stack;
    return described;
  }
  return { message: String(error), error_type: typeof error };
}

/**
 * Takes jobs of the types it has handlers for, from the queues it is given (jobs of other types stay
 * ready for other workers), and runs their handlers with bounded concurrency.
 * Successes are acknowledged in batches; a thrown error is reported as a
 * failure (RetryAtError and KillJobError steer the retry). `stop()` stops
 * taking, lets running handlers finish within the deadline and gives the
 * rest back to the server.
 */
export class Worker {
  private readonly handlers = new Map<string, JobHandler>();
  private readonly middleware: Middleware[];
  private readonly concurrency: number;
  private readonly prefetch: number;
  private readonly options: WorkerOptions;
  private readonly waiting: Job[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly pendingAcks: Job[] = [];
  private ackFlush: Promise<void> | undefined;
  private stream: TakeStream | undefined;
  private readonly stopping = new AbortController();
  private readonly deadline = new AbortController();
  private loop: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private processed = 0;

  constructor(private readonly client: Client, options: WorkerOptions) {
    if (!Array.isArray(options?.queues) || options.queues.length === 0) {
      throw new WorkerUsageError('a Worker takes from the queues it is given; name at least one, as in new Worker(client, { queues: ["emails"] })');
    }
    this.options = options;
    this.concurrency = options.concurrency ?? 10;
    this.prefetch = options.prefetch ?? this.concurrency;
    this.middleware = options.middleware ?? [];
    for (const [type, handler] of Object.entries(options.handlers ?? {})) this.register(type, handler);
  }

  /** Handlers are registered before start(): the take stream asks the server for their types only. */
  register(type: string, handler: JobHandler): this {
    if (this.loop) throw new WorkerUsageError(`register("${type}") after start(): register every handler before starting the worker, so that it takes jobs of that type`);
    this.handlers.set(type, handler);
    return this;
  }

  use(middleware: Middleware): this {
    this.middleware.push(middleware);
    return this;
  }

  /** Jobs whose handlers have finished (either way) since start. */
  get processedCount(): number {
    return this.processed;
  }

  /** Starts taking jobs; returns at once. */
  start(): this {
    if (this.handlers.size === 0) throw new WorkerUsageError("start() with no handlers: register a handler for each job type the worker should take");
    this.loop ??= this.takeLoop();
    return this;
  }

  private get workerId(): string {
    return this.options.workerId ?? `${hostname()}:${process.pid}`;
  }

  private async takeLoop(): Promise<void> {
    let delay = this.options.reconnectMinMs ?? 100;
    const maxDelay = this.options.reconnectMaxMs ?? 5000;
    while (!this.stopping.signal.aborted) {
      this.stream = this.client.take({ queues: this.options.queues, types: [...this.handlers.keys()], prefetch: this.prefetch, workerId: this.workerId });
      try {
        for await (const job of this.stream) {
          delay = this.options.reconnectMinMs ?? 100;
          this.waiting.push(job);
          this.pump();
        }
      } catch (error) {
        if (!this.stopping.signal.aborted) this.report(error);
      }
      // Jobs leased to a broken stream went back to the server; do not start them.
      if (!this.stopping.signal.aborted) this.waiting.length = 0;
      await sleep(delay, this.stopping.signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.waiting.length > 0 && !this.stopping.signal.aborted) {
      const job = this.waiting.shift()!;
      const run = this.run(job).finally(() => {
        this.running.delete(run);
        this.processed++;
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async run(job: Job): Promise<void> {
    const context: JobContext = {
      signal: this.deadline.signal,
      heartbeat: async () => {
        await this.client.heartbeat(job.id, job.run_id);
      },
    };
    try {
      await this.invoke(job, context);
      this.queueAck(job);
    } catch (error) {
      this.report(error, job);
      await this.reportFailure(job, error);
    }
  }

  private invoke(job: Job, context: JobContext): Promise<void> {
    const handler = this.handlers.get(job.type);
    const final = async (): Promise<void> => {
      if (!handler) throw new Error(`no handler registered for job type "${job.type}"`);
      await handler(job, context);
    };
    const chain = this.middleware.reduceRight<() => Promise<void>>((next, middleware) => () => middleware(job, context, next), final);
    return chain();
  }

  private async reportFailure(job: Job, error: unknown): Promise<void> {
    const failure = {
      ...describeError(error),
      ...(error instanceof RetryAtError ? { retry_at: error.retryAt } : {}),
      ...(error instanceof KillJobError ? { kill: true } : {}),
      ...(job.run_id === undefined ? {} : { run_id: job.run_id }),
    };
    try {
      await this.client.fail(job.id, failure);
    } catch (reportError) {
      this.report(reportError, job);
    }
  }

  private queueAck(job: Job): void {
    this.pendingAcks.push(job);
    this.ackFlush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushAcks());
  }

  /** Sends queued acks, one request at a time, so acks that pile up during a request share the next one. */
  private async flushAcks(): Promise<void> {
    const batchSize = this.options.ackBatchSize ?? 1000;
    while (this.pendingAcks.length > 0) {
      const jobs = this.pendingAcks.splice(0, batchSize);
      // Fenced by run id when the server hands them out (Wharf does; a Zizq server does not).
      const runIds = jobs.every((job) => job.run_id !== undefined) ? jobs.map((job) => job.run_id!) : undefined;
      try {
        await this.client.ackMany(jobs.map((job) => job.id), runIds);
      } catch (error) {
        // The stream broke, so the server has given these jobs to others already: nothing to retry.
        this.report(error);
      }
    }
    this.ackFlush = undefined;
  }

  private report(error: unknown, job?: Job): void {
    if (this.options.onError) {
      this.options.onError(error, job);
      return;
    }
    console.error(JSON.stringify({ level: "error", msg: "worker error", job: job?.id, error: String(error) }));
  }

  /** Stops taking, waits for running handlers (up to the deadline), sends acks and returns unstarted jobs. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping.abort();
    const timeoutMs = this.options.shutdownTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.deadline.abort();
        resolve();
      }, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.running]), deadline]);
    clearTimeout(timer);
    await this.ackFlush;
    this.waiting.length = 0;
    // Closing the stream hands every job we did not finish back to the server at once.
    await this.stream?.close();
    await this.loop;
  }
}
