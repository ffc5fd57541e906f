import type { KeyObject } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import { BadRequestError, NotFoundError, PayloadTooLargeError, WharfError, WorkerUsageError } from "../errors.js";
import type { WorkerReport, WorkerStatus } from "../engine/worker-registry.js";
import { VERSION } from "../version.js";
import { createLogger, errorMessage, type Logger } from "../log.js";
import type { Client, JobFilter } from "./client.js";
import type { AnyJobs, Job, JobType } from "./jobs.js";
import type { TakeStream } from "./transport.js";
import { parseJson, stringifyJson } from "../job/json.js";
import type { JsonValue } from "../job/types.js";
import { KillJobError, RetryAtError } from "./handler-errors.js";
import { verificationKeysOf, verifyBeforeRunning, type SigningKey } from "./signing.js";

export { KillJobError, RetryAtError, SignatureError } from "./handler-errors.js";

/** A job acknowledged, and what its handler returned as JSON (undefined: nothing to keep). */
interface Done<Jobs> {
  job: Job<Jobs>;
  result: JsonValue | undefined;
}

export interface JobContext {
  /** Aborted when the worker's shutdown deadline passes while this job still runs, or when the job is cancelled on the server. */
  signal: AbortSignal;
  /** Extends this job's lease on the server; call it from long-running handlers. */
  heartbeat(): Promise<void>;
  /**
   * Extends the lease and saves `state` (JSON) with the job: if this attempt fails, runs out of lease or
   * its worker dies, the next attempt receives it as `job.state` and can resume from there.
   */
  saveState(state: JsonValue): Promise<void>;
  /** Extends the lease and tells how far the work has come (a number, or small JSON): shown on the job and sent to event watchers. */
  progress(progress: JsonValue): Promise<void>;
}

/**
 * Runs a job of type `K`. What it returns (or resolves to) is the job's result: told to `completed`
 * listeners and, when it is JSON (undefined is no result), sent with the ack for the job to keep.
 */
export type JobHandler<Jobs = AnyJobs, K extends JobType<Jobs> = JobType<Jobs>> = (job: Job<Jobs, K>, context: JobContext) => unknown;
export type Middleware<Jobs = AnyJobs> = (job: Job<Jobs>, context: JobContext, next: () => Promise<void>) => Promise<void>;

/** A handler per job type, each given jobs of its own type (without a job map, any type name). */
export type JobHandlers<Jobs = AnyJobs> = string extends JobType<Jobs>
  ? Record<string, JobHandler<Jobs>>
  : { [K in JobType<Jobs>]?: JobHandler<Jobs, K> };

/** The events of a Worker and their listeners' arguments. */
export interface WorkerEvents<Jobs = AnyJobs> {
  /** A handler started on the job. */
  active: (job: Job<Jobs>) => void;
  /** The handler returned `result`, after `durationMs`; the ack goes out in the next batch. */
  completed: (job: Job<Jobs>, outcome: { result: unknown; durationMs: number }) => void;
  /**
   * The handler threw `error`; told once the failure is reported, with whether the job will run again
   * (undefined when the report did not get through: the lease then runs out and the server retries it).
   */
  failed: (job: Job<Jobs>, error: unknown, outcome: { durationMs: number; willRetry: boolean | undefined }) => void;
  /**
   * No job of the worker's queues (of the types it handles) is waiting or running any more, after some ran.
   * While someone listens, the worker asks the server (one count) each time it runs out of work.
   */
  drained: () => void;
  /**
   * The job's run was cancelled on the server (POST /jobs/{id}/cancel): its handler's `context.signal`
   * aborted (or it never started), and nothing is acked or reported for it; the job is dead, Cancelled.
   */
  cancelled: (job: Job<Jobs>) => void;
  /** Trouble outside handlers: a take stream broke (the worker reconnects), an ack or failure report did not get through. */
  error: (error: unknown, job?: Job<Jobs>) => void;
}

type WorkerEvent = keyof WorkerEvents;

/** How the jobs of one `drain()` ended. */
export interface DrainResult {
  completed: number;
  /** Failed and due to run again (scheduled by backoff or RetryAtError). */
  retried: number;
  /** Failed for good: KillJobError, or out of retries. */
  dead: number;
}

export interface DrainOptions {
  /** Jobs run at most, counting those the handlers enqueue; past it drain() throws. Default 1000. */
  limit?: number;
}

type Outcome = { ok: true; result: unknown; durationMs: number } | { ok: false; error: unknown; durationMs: number };

/** How often an idle worker asks whether jobs that others hold have finished, while someone waits for idleness. */
const IDLE_POLL_MS = 200;
/** How long drain() waits for a job the server counts as waiting to reach its stream. */
const DRAIN_DELIVERY_MS = 2000;

/** A job a worker runs: its run id, whether the server cancelled it, and the abort its handler's signal joins (made on first use). */
interface Run {
  runId: string | undefined;
  cancelled: boolean;
  cancel?: AbortController;
}

export interface WorkerOptions<Jobs = AnyJobs> {
  /** Queues to take from: at least one. */
  queues: string[];
  /** Handlers running at once, at most. Default 10. */
  concurrency?: number;
  /** Jobs leased ahead of the handlers. Default: equal to concurrency. */
  prefetch?: number;
  handlers?: JobHandlers<Jobs>;
  middleware?: Array<Middleware<Jobs>>;
  /** Acks sent in one request, at most. */
  ackBatchSize?: number;
  /** How long `stop()` lets running handlers finish, in ms. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** Reconnect delays after the server goes away: doubles from min to max, in ms. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  workerId?: string;
  /**
   * Ed25519 public keys (KeyObjects or PEM text) of the producers whose jobs this worker runs: a job
   * none of them signed, or changed since it was signed, is failed dead with a SignatureError and
   * never reaches a handler. Without keys, jobs run signed or not.
   */
  verificationKeys?: SigningKey[];
  /** How often the worker tells the server about itself (GET /workers), in ms; 0: never. Default 10 s. */
  reportIntervalMs?: number;
  /**
   * Told about handler failures and connection trouble alike (the `failed` and `error` events tell them
   * apart). Trouble that neither this nor a listener of its event hears goes to the logger.
   */
  onError?: (error: unknown, job?: Job<Jobs>) => void;
  /** Where trouble nobody listens to is logged, at error; default: JSON lines on stderr. */
  logger?: Logger;
}

let defaultLogger: Logger | undefined;

/** Workers without a logger of their own share one, made when first needed. */
function stderrLogger(): Logger {
  defaultLogger ??= createLogger({ level: "error", destination: "stderr" });
  return defaultLogger;
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

/** Ack requests a worker keeps under way at once: a second one goes out while the first waits for the server's disk. */
const ACK_REQUESTS_IN_FLIGHT = 2;

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
 * rest back to the server. What happens is told as events (WorkerEvents).
 */
export class Worker<Jobs extends object = AnyJobs> {
  private readonly handlers = new Map<string, JobHandler<Jobs>>();
  private readonly middleware: Array<Middleware<Jobs>>;
  private readonly concurrency: number;
  private readonly prefetch: number;
  private readonly options: WorkerOptions<Jobs>;
  private readonly verificationKeys: KeyObject[] | undefined;
  private readonly waiting: Array<Job<Jobs>> = [];
  private readonly running = new Set<Promise<void>>();
  private readonly pendingAcks: Array<Done<Jobs>> = [];
  private readonly ackFlushes = new Set<Promise<void>>();
  private ackFlushStarting = false;
  private stream: TakeStream<Jobs> | undefined;
  private readonly stopping = new AbortController();
  private readonly deadline = new AbortController();
  /** Per job started (by id): its run, and whether the server cancelled it. */
  private readonly runs = new Map<string, Run>();
  private loop: Promise<void> | undefined;
  private reporting: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;
  private processed = 0;
  private readonly events = new EventEmitter();
  /** Jobs that reached this worker's streams, ever: tells an idleness check that work came in while it asked the server. */
  private arrivals = 0;
  private ranSinceDrained = false;
  private readonly idleWaiters: Array<() => void> = [];
  private idleCheck: Promise<void> | undefined;
  private idlePoll: NodeJS.Timeout | undefined;

  constructor(private readonly client: Client<Jobs>, options: WorkerOptions<Jobs>) {
    if (!Array.isArray(options?.queues) || options.queues.length === 0) {
      throw new WorkerUsageError('a Worker takes from the queues it is given; name at least one, as in new Worker(client, { queues: ["emails"] })');
    }
    this.options = options;
    this.concurrency = options.concurrency ?? 10;
    this.prefetch = options.prefetch ?? this.concurrency;
    this.middleware = options.middleware ?? [];
    this.verificationKeys = options.verificationKeys === undefined ? undefined : verificationKeysOf(options.verificationKeys);
    for (const [type, handler] of Object.entries(options.handlers ?? {}) as Array<[JobType<Jobs>, JobHandler<Jobs> | undefined]>) {
      if (handler) this.register(type, handler);
    }
  }

  /** Handlers are registered before start(): the take stream asks the server for their types only. */
  register<K extends JobType<Jobs>>(type: K, handler: JobHandler<Jobs, K>): this {
    if (this.loop) throw new WorkerUsageError(`register("${type}") after start(): register every handler before starting the worker, so that it takes jobs of that type`);
    // Jobs reach a handler by their type, so the handler of K is only ever given jobs of type K.
    this.handlers.set(type, handler as JobHandler<Jobs>);
    return this;
  }

  use(middleware: Middleware<Jobs>): this {
    this.middleware.push(middleware);
    return this;
  }

  on<E extends WorkerEvent>(event: E, listener: WorkerEvents<Jobs>[E]): this {
    this.events.on(event, listener);
    return this;
  }

  once<E extends WorkerEvent>(event: E, listener: WorkerEvents<Jobs>[E]): this {
    this.events.once(event, listener);
    return this;
  }

  off<E extends WorkerEvent>(event: E, listener: WorkerEvents<Jobs>[E]): this {
    this.events.off(event, listener);
    return this;
  }

  /** Tells the event's listeners, if any (so an `error` nobody listens to is no crash); a listener that throws is trouble. */
  private emit<E extends WorkerEvent>(event: E, ...args: Parameters<WorkerEvents<Jobs>[E]>): void {
    if (this.events.listenerCount(event) === 0) return;
    try {
      this.events.emit(event, ...args);
    } catch (error) {
      if (event === "error") this.report(error);
      else this.trouble(error);
    }
  }

  /** Jobs whose handlers have finished (either way) since start. */
  get processedCount(): number {
    return this.processed;
  }

  /** Starts taking jobs; returns at once. */
  start(): this {
    this.requireHandlers("start()");
    if (!this.loop) this.startReporting();
    this.loop ??= this.takeLoop();
    return this;
  }

  /** Tells the server about this worker (GET /workers) now and every reportIntervalMs until it stops. */
  private startReporting(): void {
    const interval = this.options.reportIntervalMs ?? 10_000;
    if (interval === 0) return;
    void this.reportSelf("running");
    this.reporting = setInterval(() => void this.reportSelf("running"), interval);
    this.reporting.unref();
  }

  /** Best effort: a server without worker reports (a Zizq server answers 404) is left alone. */
  private async reportSelf(status: WorkerStatus): Promise<void> {
    const memory = process.memoryUsage();
    const report: WorkerReport = {
      status,
      language: `typescript (node ${process.versions.node})`,
      version: VERSION,
      concurrency: this.concurrency,
      memory_mb: Math.round(memory.rss / 1048576),
      uptime_s: Math.round(process.uptime()),
    };
    try {
      await this.client.reportWorker(this.workerId, report);
    } catch (error) {
      if (error instanceof NotFoundError) {
        clearInterval(this.reporting);
        return;
      }
      this.trouble(error);
    }
  }

  private requireHandlers(caller: string): void {
    if (this.handlers.size === 0) throw new WorkerUsageError(`${caller} with no handlers: register a handler for each job type the worker should take`);
  }

  /** A take stream for this worker's queues and the types it has handlers for. */
  private openStream(prefetch: number): TakeStream<Jobs> {
    return this.client.take({ queues: this.options.queues, types: [...this.handlers.keys()], prefetch, workerId: this.workerId, onCancel: (id, runId) => this.cancelRun(id, runId) });
  }

  private get workerId(): string {
    return this.options.workerId ?? `${hostname()}:${process.pid}`;
  }

  private async takeLoop(): Promise<void> {
    let delay = this.options.reconnectMinMs ?? 100;
    const maxDelay = this.options.reconnectMaxMs ?? 5000;
    while (!this.stopping.signal.aborted) {
      this.stream = this.openStream(this.prefetch);
      try {
        for await (const job of this.stream) {
          delay = this.options.reconnectMinMs ?? 100;
          this.arrivals++;
          this.waiting.push(job);
          this.pump();
        }
      } catch (error) {
        if (!this.stopping.signal.aborted) this.trouble(error);
      }
      // Jobs leased to a broken stream went back to the server; do not start them.
      if (!this.stopping.signal.aborted) this.waiting.length = 0;
      await sleep(delay, this.stopping.signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  /** The server cancelled a run this worker holds: a job not started yet is dropped, a running one's signal aborts. */
  private cancelRun(id: string, runId: string | undefined): void {
    const waiting = this.waiting.findIndex((job) => job.id === id && job.run_id === runId);
    if (waiting >= 0) {
      const [job] = this.waiting.splice(waiting, 1);
      this.emit("cancelled", job!);
      this.checkIdle();
      return;
    }
    const run = this.runs.get(id);
    if (!run || run.runId !== runId) return;
    run.cancelled = true;
    run.cancel?.abort(new Error(`job ${id} was cancelled`));
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.waiting.length > 0 && !this.stopping.signal.aborted) {
      const job = this.waiting.shift()!;
      const run = this.handle(job, (done) => this.queueAck(done)).then(() => undefined).finally(() => {
        this.running.delete(run);
        this.processed++;
        this.pump();
        this.checkIdle();
      });
      this.running.add(run);
    }
  }

  /** Runs a job's handler, then acks the job with `ack` or reports its failure; answers how it ended. */
  private async handle(job: Job<Jobs>, ack: (done: Done<Jobs>) => unknown): Promise<keyof DrainResult> {
    this.ranSinceDrained = true;
    const run: Run = { runId: job.run_id, cancelled: false };
    this.runs.set(job.id, run);
    const outcome = await this.execute(job, run).finally(() => this.runs.delete(job.id));
    if (run.cancelled) {
      // The server ended the run already: an ack or a failure report would only be refused.
      this.emit("cancelled", job);
      return "dead";
    }
    if (outcome.ok) {
      await ack({ job, result: this.keptResult(outcome.result, job) });
      this.emit("completed", job, { result: outcome.result, durationMs: outcome.durationMs });
      return "completed";
    }
    const willRetry = await this.reportFailure(job, outcome.error);
    this.notify("failed", [job, outcome.error, { durationMs: outcome.durationMs, willRetry }], outcome.error, job);
    // A failure whose report did not get through is retried too, once its lease runs out.
    return willRetry === false ? "dead" : "retried";
  }

  private async execute(job: Job<Jobs>, run: Run): Promise<Outcome> {
    this.emit("active", job);
    const deadline = this.deadline.signal;
    let signal: AbortSignal | undefined;
    const context: JobContext = {
      // Made on first use: joining two signals costs about 20 us, too much for every job of a handler that never looks.
      get signal(): AbortSignal {
        run.cancel ??= new AbortController();
        if (run.cancelled) run.cancel.abort(new Error(`job ${job.id} was cancelled`));
        return (signal ??= AbortSignal.any([deadline, run.cancel.signal]));
      },
      heartbeat: async () => {
        await this.client.heartbeat(job.id, job.run_id);
      },
      saveState: async (state) => {
        await this.client.heartbeat(job.id, job.run_id, state);
        job.state = state;
      },
      progress: async (progress) => {
        await this.client.heartbeat(job.id, job.run_id, undefined, progress);
      },
    };
    const started = performance.now();
    try {
      const result = await this.invoke(job, context);
      return { ok: true, result, durationMs: performance.now() - started };
    } catch (error) {
      return { ok: false, error, durationMs: performance.now() - started };
    }
  }

  /** Runs the middleware chain around the job's handler; resolves to what the handler returned. */
  private async invoke(job: Job<Jobs>, context: JobContext): Promise<unknown> {
    if (this.verificationKeys) verifyBeforeRunning(job, this.verificationKeys);
    const handler = this.handlers.get(job.type);
    let result: unknown;
    const final = async (): Promise<void> => {
      if (!handler) throw new Error(`no handler registered for job type "${job.type}"`);
      result = await handler(job, context);
    };
    const chain = this.middleware.reduceRight<() => Promise<void>>((next, middleware) => () => middleware(job, context, next), final);
    await chain();
    return result;
  }

  /** Reports a failed attempt; answers whether the job will run again, or undefined when the report did not get through. */
  private async reportFailure(job: Job<Jobs>, error: unknown): Promise<boolean | undefined> {
    const failure = {
      ...describeError(error),
      ...(error instanceof RetryAtError ? { retry_at: error.retryAt } : {}),
      ...(error instanceof KillJobError ? { kill: true } : {}),
      ...(job.run_id === undefined ? {} : { run_id: job.run_id }),
    };
    try {
      return (await this.client.fail(job.id, failure)).status !== "dead";
    } catch (reportError) {
      this.trouble(reportError, job);
      return undefined;
    }
  }

  /**
   * What a handler returned, as the JSON the job keeps: undefined for nothing. A value JSON cannot hold
   * (a cycle, a function) is told as an `error` event and the job is acked without a result.
   */
  private keptResult(value: unknown, job: Job<Jobs>): JsonValue | undefined {
    if (value === undefined) return undefined;
    try {
      const text = stringifyJson(value);
      if (text !== undefined) return parseJson(text) as JsonValue;
    } catch {
      // Told below, as for a value JSON.stringify leaves out.
    }
    this.trouble(new WorkerUsageError(`the handler of job ${job.id} returned a value JSON cannot hold; the job is acked without a result`), job);
    return undefined;
  }

  /**
   * Acks `batch` with `send`, results and all (none when no handler returned one). When the server refuses
   * the results (413 too large, 400 not storable), each job is acked on its own, and one whose result is
   * refused again goes without it, told as an `error` event: the work is done either way.
   */
  private async ackWithResults(batch: Array<Done<Jobs>>, send: (batch: Array<Done<Jobs>>, withResults: boolean) => Promise<unknown>): Promise<void> {
    const withResults = batch.some(({ result }) => result !== undefined);
    try {
      await send(batch, withResults);
    } catch (error) {
      if (!withResults || !(error instanceof PayloadTooLargeError || error instanceof BadRequestError)) throw error;
      if (batch.length > 1) {
        for (const done of batch) await this.ackWithResults([done], send);
        return;
      }
      this.trouble(error, batch[0]!.job);
      await send(batch, false);
    }
  }

  private queueAck(done: Done<Jobs>): void {
    this.pendingAcks.push(done);
    if (this.ackFlushes.size >= ACK_REQUESTS_IN_FLIGHT || this.ackFlushStarting) return;
    this.ackFlushStarting = true;
    const flush: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.ackFlushStarting = false;
      return this.flushAcks();
    }).finally(() => {
      this.ackFlushes.delete(flush);
      this.checkIdle();
    });
    this.ackFlushes.add(flush);
  }

  /** Sends queued acks, one request at a time, so acks that pile up during a request share the next one. */
  private async flushAcks(): Promise<void> {
    const batchSize = this.options.ackBatchSize ?? 1000;
    while (this.pendingAcks.length > 0) {
      const batch = this.pendingAcks.splice(0, batchSize);
      try {
        await this.ackWithResults(batch, (dones, withResults) => {
          const jobs = dones.map(({ job }) => job);
          // Fenced by run id when the server hands them out (Wharf does; a Zizq server does not).
          const runIds = jobs.every((job) => job.run_id !== undefined) ? jobs.map((job) => job.run_id!) : undefined;
          return this.client.ackMany(jobs.map((job) => job.id), runIds, withResults ? dones.map(({ result }) => result) : undefined);
        });
      } catch (error) {
        // The stream broke, so the server has given these jobs to others already: nothing to retry.
        this.trouble(error);
      }
    }
  }

  /** Trouble outside handlers: told as an `error` event. */
  private trouble(error: unknown, job?: Job<Jobs>): void {
    this.notify("error", job === undefined ? [error] : [error, job], error, job);
  }

  /** Tells the event's listeners and onError, which hears failures and trouble alike; with neither, report(). */
  private notify<E extends "failed" | "error">(event: E, args: Parameters<WorkerEvents<Jobs>[E]>, error: unknown, job: Job<Jobs> | undefined): void {
    const heard = this.events.listenerCount(event) > 0 || this.options.onError !== undefined;
    this.emit(event, ...args);
    this.options.onError?.(error, job);
    if (!heard) this.report(error, job);
  }

  /** The report of last resort, for what nobody listens to: the logger. */
  private report(error: unknown, job?: Job<Jobs>): void {
    (this.options.logger ?? stderrLogger()).error({ job: job?.id, type: job?.type, error: errorMessage(error), error_type: error instanceof Error ? error.name : typeof error }, "worker error");
  }

  /** The jobs this worker takes: those of its queues and its handlers' types. */
  private ownJobs(): JobFilter {
    return { queue: this.options.queues, type: this.handlers.size > 0 ? [...this.handlers.keys()] : undefined };
  }

  /** Whether any job of ours is waiting or running, on the server: one may be on its way to this worker's stream. */
  private async jobsLeft(): Promise<boolean> {
    return (await this.client.countJobs({ ...this.ownJobs(), status: ["ready", "in_flight"] })) > 0;
  }

  private locallyIdle(): boolean {
    return this.waiting.length === 0 && this.running.size === 0 && this.pendingAcks.length === 0 && this.ackFlushes.size === 0;
  }

  /**
   * Resolves once no job of the worker's queues (of the types it handles) is waiting or running and every
   * ack has been sent; at once after stop(). Jobs scheduled for later (retries in backoff) do not count.
   */
  waitUntilIdle(): Promise<void> {
    if (this.stopped) return this.stopped;
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  /** When this worker has nothing left and someone wants to know, asks the server whether the queues are done too. */
  private checkIdle(): void {
    const wanted = this.idleWaiters.length > 0 || (this.ranSinceDrained && this.events.listenerCount("drained") > 0);
    if (!wanted || !this.locallyIdle() || this.stopping.signal.aborted) return;
    this.idleCheck ??= this.confirmIdle().then((changed) => {
      this.idleCheck = undefined;
      // Work that came and went while the server was asked ended with a check of its own that found this one running.
      if (changed) this.checkIdle();
    });
  }

  /** Answers whether work came in meanwhile, in which case the answer is stale. */
  private async confirmIdle(): Promise<boolean> {
    const arrivals = this.arrivals;
    let left: boolean;
    try {
      left = await this.jobsLeft();
    } catch (error) {
      // The take loop already tells of a server that went away; anything else is news.
      if (!(error instanceof WharfError && error.retryable)) this.trouble(error);
      left = true;
    }
    if (arrivals !== this.arrivals || !this.locallyIdle()) return true;
    if (left) {
      // Held by other workers, or on its way here: look again in a while, unless work arrives first.
      clearTimeout(this.idlePoll);
      this.idlePoll = setTimeout(() => this.checkIdle(), IDLE_POLL_MS);
      return false;
    }
    this.becameIdle();
    return false;
  }

  private becameIdle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    if (this.ranSinceDrained) {
      this.ranSinceDrained = false;
      this.emit("drained");
    }
  }

  /**
   * For tests: runs the jobs of the worker's queues through its handlers and middleware, one at a time,
   * until none is waiting or running, and answers how they ended. Jobs the handlers enqueue run too;
   * jobs scheduled for later (retries among them) wait for their time: advance the clock and drain again.
   * The worker must not be started, and must be the only one taking these jobs.
   */
  async drain(options: DrainOptions = {}): Promise<DrainResult> {
    if (this.loop) throw new BadRequestError("drain() runs the jobs itself: call it on a worker that is not started");
    const limit = options.limit ?? 1000;
    const result: DrainResult = { completed: 0, retried: 0, dead: 0 };
    this.requireHandlers("drain()");
    const stream = this.openStream(1);
    const jobs = stream[Symbol.asyncIterator]();
    try {
      for (let ran = 0; await this.jobsLeft(); ran++) {
        if (ran === limit) throw new BadRequestError(`drain() ran ${limit} jobs and more are waiting (do handlers enqueue jobs without end?); pass a higher limit`);
        const job = await this.delivered(jobs);
        result[await this.handle(job, (done) => this.ackWithResults([done], ([one], withResults) => this.client.ack(job.id, job.run_id, withResults ? one!.result : undefined)))]++;
      }
    } finally {
      await stream.close();
    }
    return result;
  }

  /** The next job of a drain's stream, which the server says is waiting. */
  private async delivered(jobs: AsyncIterator<Job<Jobs>>): Promise<Job<Jobs>> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), DRAIN_DELIVERY_MS);
    });
    try {
      const next = await Promise.race([jobs.next(), late]);
      if (next === "late") throw new BadRequestError(`drain(): jobs are running elsewhere (another worker?), none came in ${DRAIN_DELIVERY_MS} ms`);
      if (next.done) throw new BadRequestError("drain(): the take stream ended");
      return next.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops taking, waits for running handlers (up to the deadline), sends acks and returns unstarted jobs. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping.abort();
    if (this.reporting) {
      clearInterval(this.reporting);
      void this.reportSelf("stopping");
    }
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
    while (this.ackFlushes.size > 0) await Promise.all(this.ackFlushes);
    this.waiting.length = 0;
    // Closing the stream hands every job we did not finish back to the server at once.
    await this.stream?.close();
    await this.loop;
    clearTimeout(this.idlePoll);
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
