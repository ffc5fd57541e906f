import type { KeyObject } from "node:crypto";
import { UnprocessableError } from "../errors.js";
import { signingKeyOf, signInputs, type SigningKey } from "./signing.js";
import type { TurnBatcher } from "../turn-batcher.js";
import { enqueueBatcher } from "./enqueue-batcher.js";
import type { PageLinks } from "../http/params.js";
import type { EnqueuedJob, FailureInput, Job as StoredJob, JobError, JobPatch, JobStatus, JsonValue } from "../job/types.js";
import type { AnyJobs, EnqueueInput, Job } from "./jobs.js";
import type { EventsRequest, EventStream, QueryValue, TakeStream, Transport } from "./transport.js";
import type { EventKind } from "../engine/events.js";
import type { WorkerReport, WorkerView } from "../engine/worker-registry.js";
import { CronClient } from "./crons.js";
import { WorkflowClient } from "./workflows.js";
import type { CancelFrame } from "../engine/dispatch.js";
import type { QueuePatch, QueueSettings } from "../engine/queue-settings.js";

/** GET /queues/{queue}: the queue's settings and its jobs by status. */
export interface QueueInfo {
  queue: string;
  settings: QueueSettings;
  counts: Record<JobStatus, number>;
}

/** A range filter: an exact number, `{ min, max }` (either may be left out), or the wire form "A..B". */
export type RangeFilter = number | string | { min?: number; max?: number };

/** Which jobs a query, bulk patch or bulk delete applies to. Every condition must hold. */
export interface JobFilter {
  id?: string | string[];
  queue?: string | string[];
  type?: string | string[];
  status?: JobStatus | JobStatus[];
  /** Jobs carrying one of these correlation ids. */
  correlation_id?: string | string[];
  priority?: RangeFilter;
  ready_at?: RangeFilter;
  attempts?: RangeFilter;
  /** A jq expression over the payload; a job matches when it yields a truthy value. */
  filter?: string;
}

export interface ListOptions extends JobFilter {
  order?: "asc" | "desc";
  /** Jobs per page fetched from the server (1-2000). */
  pageSize?: number;
}

export type { PageLinks };

export interface JobPageResult<Jobs = AnyJobs> {
  jobs: Array<Job<Jobs>>;
  pages: PageLinks;
}

export interface TakeOptions {
  queues?: string[];
  /** Job types to take (a Wharf extension); every type when absent. Jobs of other types stay ready for other workers. */
  types?: string[];
  /** Unacknowledged jobs the stream may hold; 0 means unlimited. Default 1. */
  prefetch?: number;
  workerId?: string;
  /** Told when the run of a job this stream holds is cancelled (POST /jobs/{id}/cancel): stop working on it. */
  onCancel?: (id: string, runId: string | undefined) => void;
}

export type JobSummary = Omit<StoredJob, "payload">;

export interface EventOptions {
  queues?: string[];
  types?: string[];
  kinds?: EventKind[];
  /** An event's id: start with the recent events after it (an `events.missed` first, when it is too old). */
  after?: string;
}

function list(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
}

function range(value: RangeFilter | undefined): string | undefined {
  if (value === undefined || typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return `${value.min ?? ""}..${value.max ?? ""}`;
}

function filterQuery(filter: JobFilter = {}): Record<string, QueryValue> {
  return {
    id: list(filter.id),
    queue: list(filter.queue),
    type: list(filter.type),
    status: list(filter.status),
    correlation_id: list(filter.correlation_id),
    priority: range(filter.priority),
    ready_at: range(filter.ready_at),
    attempts: range(filter.attempts),
    filter: filter.filter,
  };
}

/** A single ack's or heartbeat's body: nothing when it carries nothing. */
function leaseBody(runId: string | undefined, field: "result" | "state", value: JsonValue | undefined): Record<string, unknown> | undefined {
  if (runId === undefined && value === undefined) return undefined;
  return { ...(runId === undefined ? {} : { run_id: runId }), ...(value === undefined ? {} : { [field]: value }) };
}

function linkQuery(link: string): Record<string, string> {
  return Object.fromEntries(new URL(link, "http://wharf").searchParams);
}

export interface ClientOptions {
  /**
   * Sends the `enqueue()` calls made in one event-loop turn as one `POST /jobs/bulk` (default true):
   * many callers enqueueing at once cost the server one request instead of one each. A call made
   * alone is still a `POST /jobs`; a bulk the server refuses as a whole (400, 413, 422) is retried
   * job by job, so one bad job fails only its own call. Set false to send every call on its own.
   */
  coalesceEnqueues?: boolean;
  /**
   * An ed25519 private key (a KeyObject, or PEM text as `wharf signing-key new` writes it): every job
   * this client enqueues gets an id and a signature by it, for servers and workers that trust its
   * public key (see Signed jobs in the README). Workflows are not signed.
   */
  signingKey?: SigningKey;
}

/**
 * The Wharf client: every endpoint of the API, typed. Works the same over
 * HTTP (`connect`) and in-process (`open`). Errors are WharfError subclasses
 * (NotFoundError, BadRequestError, UnavailableError, ...). `Jobs` is the job
 * map (see src/client/jobs.ts) that types payloads by job type.
 */
export class Client<Jobs extends object = AnyJobs> {
  private readonly enqueues: TurnBatcher<EnqueueInput<Jobs>, EnqueuedJob> | undefined;
  private readonly signingKey: KeyObject | undefined;

  /** Cron groups: recurring jobs. */
  readonly crons: CronClient;
  /** Workflows: chains and groups of jobs. */
  readonly workflows: WorkflowClient<Jobs>;

  constructor(readonly transport: Transport, options: ClientOptions = {}) {
    this.crons = new CronClient((method, path, query, body) => this.call(method, path, query, body));
    this.workflows = new WorkflowClient((method, path, query, body) => this.call(method, path, query, body));
    this.signingKey = options.signingKey === undefined ? undefined : signingKeyOf(options.signingKey);
    if (options.coalesceEnqueues !== false) this.enqueues = enqueueBatcher((job) => this.enqueueAlone(job), (jobs) => this.postBulk(jobs));
  }

  private async call<T>(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown): Promise<T> {
    return (await this.transport.request(method, path, query, body)).body as T;
  }

  async health(): Promise<{ status: string }> {
    return this.call("GET", "/health");
  }

  async version(): Promise<string> {
    return (await this.call<{ version: string }>("GET", "/version")).version;
  }

  async queues(): Promise<string[]> {
    return (await this.call<{ queues: string[] }>("GET", "/queues")).queues;
  }

  /** A queue's settings and its jobs by status. */
  getQueue(queue: string): Promise<QueueInfo> {
    return this.call("GET", `/queues/${encodeURIComponent(queue)}`);
  }

  /** Changes a queue's settings; null resets one to its default. */
  patchQueue(queue: string, patch: QueuePatch): Promise<QueueInfo> {
    return this.call("PATCH", `/queues/${encodeURIComponent(queue)}`, undefined, patch);
  }

  /** The queue accepts enqueues but hands out nothing until resumed; jobs in flight finish. */
  pauseQueue(queue: string): Promise<QueueInfo> {
    return this.call("POST", `/queues/${encodeURIComponent(queue)}/pause`);
  }

  resumeQueue(queue: string): Promise<QueueInfo> {
    return this.call("POST", `/queues/${encodeURIComponent(queue)}/resume`);
  }

  /**
   * Enqueues one job, answering once it is committed. Calls made in the same event-loop turn share
   * one bulk request (see ClientOptions.coalesceEnqueues); each still gets its own job or error.
   */
  async enqueue(job: EnqueueInput<Jobs>): Promise<EnqueuedJob> {
    const [signed] = this.signed([job]);
    return this.enqueues ? this.enqueues.add(signed!) : this.enqueueAlone(signed!);
  }

  /** The jobs of one request as sent: signed when the client has a signing key. */
  private signed(jobs: Array<EnqueueInput<Jobs>>): Array<EnqueueInput<Jobs>> {
    return this.signingKey ? signInputs(jobs, this.signingKey) : jobs;
  }

  private enqueueAlone(job: EnqueueInput<Jobs>): Promise<EnqueuedJob> {
    return this.call("POST", "/jobs", undefined, job);
  }

  /** Enqueues all or none, answering in input order. */
  async enqueueBulk(jobs: Array<EnqueueInput<Jobs>>): Promise<EnqueuedJob[]> {
    return this.postBulk(this.signed(jobs));
  }

  private async postBulk(jobs: Array<EnqueueInput<Jobs>>): Promise<EnqueuedJob[]> {
    return (await this.call<{ jobs: EnqueuedJob[] }>("POST", "/jobs/bulk", undefined, { jobs })).jobs;
  }

  async getJob(id: string): Promise<Job<Jobs>> {
    return this.call("GET", `/jobs/${encodeURIComponent(id)}`);
  }

  /** One page; pass `from` (a job id) to continue after it. */
  async listPage(options: ListOptions & { from?: string } = {}): Promise<JobPageResult<Jobs>> {
    const query = { ...filterQuery(options), order: options.order, limit: options.pageSize, from: options.from };
    return this.call("GET", "/jobs", query);
  }

  /** Every matching job, fetching pages as the iteration goes. */
  listJobs(options: ListOptions = {}): AsyncGenerator<Job<Jobs>> {
    return this.paginate<JobPageResult<Jobs>, Job<Jobs>>("/jobs", { ...filterQuery(options), order: options.order, limit: options.pageSize }, (page) => page.jobs);
  }

  /** The items of every page, following each page's `next` link. */
  private async *paginate<P extends { pages: PageLinks }, T>(path: string, firstQuery: Record<string, QueryValue>, items: (page: P) => T[]): AsyncGenerator<T> {
    let query = firstQuery;
    for (;;) {
      const page = await this.call<P>("GET", path, query);
      yield* items(page);
      if (!page.pages.next) return;
      query = linkQuery(page.pages.next);
    }
  }

  async countJobs(filter: JobFilter = {}): Promise<number> {
    return (await this.call<{ count: number }>("GET", "/jobs/count", filterQuery(filter))).count;
  }

  async patchJob(id: string, patch: JobPatch): Promise<JobSummary> {
    return this.call("PATCH", `/jobs/${encodeURIComponent(id)}`, undefined, patch);
  }

  /** Patches every matching job that is not completed or dead; returns how many changed. */
  async patchJobs(filter: JobFilter, patch: JobPatch): Promise<number> {
    return (await this.call<{ patched: number }>("PATCH", "/jobs", filterQuery(filter), patch)).patched;
  }

  /** Retries a dead job: a fresh copy (new id) is enqueued and the dead one removed, atomically. Answers the copy. */
  async requeueDead(id: string): Promise<EnqueuedJob> {
    return this.call("POST", `/jobs/${encodeURIComponent(id)}/requeue`);
  }

  async deleteJob(id: string): Promise<void> {
    await this.call("DELETE", `/jobs/${encodeURIComponent(id)}`);
  }

  /** Deletes every matching job (every job, with no filter); returns how many. */
  async deleteJobs(filter: JobFilter = {}): Promise<number> {
    return (await this.call<{ deleted: number }>("DELETE", "/jobs", filterQuery(filter))).deleted;
  }

  /**
   * Acknowledges a job; with `runId` (the job's `run_id` when taken), only if that lease is still the
   * current one; with `result`, the job keeps it (GET /jobs/{id}/result) while it is retained.
   */
  async ack(id: string, runId?: string, result?: JsonValue): Promise<void> {
    await this.call("POST", `/jobs/${encodeURIComponent(id)}/success`, undefined, leaseBody(runId, "result", result));
  }

  /**
   * Acknowledges many jobs; those that were not in flight (or, with `runIds` aligned to `ids`, no longer
   * in that run) come back in `notFound`, the rest are done.
   */
  async ackMany(ids: string[], runIds?: string[], results?: Array<JsonValue | undefined>): Promise<{ notFound: string[] }> {
    const body: { ids: string[]; run_ids?: string[]; results?: Array<JsonValue | null> } = { ids };
    if (runIds !== undefined) body.run_ids = runIds;
    if (results !== undefined) body.results = results.map((result) => result ?? null);
    try {
      await this.call("POST", "/jobs/success", undefined, body);
      return { notFound: [] };
    } catch (error) {
      if (error instanceof UnprocessableError && Array.isArray(error.details?.not_found)) {
        return { notFound: error.details.not_found as string[] };
      }
      throw error;
    }
  }

  /** Reports a failed attempt; with `run_id`, only if that lease is still the current one. */
  async fail(id: string, failure: FailureInput & { run_id?: string }): Promise<JobSummary> {
    return this.call("POST", `/jobs/${encodeURIComponent(id)}/failure`, undefined, failure);
  }

  /**
   * Extends the lease of an in-flight job (in run `runId`, when given); with `state`, saves it with the
   * job, and the job's next attempt (after a failure, lease expiry or crash) receives it as `job.state`;
   * with `progress`, the job shows it (and a job.progress event tells watchers).
   */
  async heartbeat(id: string, runId?: string, state?: JsonValue, progress?: JsonValue): Promise<{ id: string; run_id: string; lease_expires_at: number }> {
    const body = leaseBody(runId, "state", state);
    return this.call("POST", `/jobs/${encodeURIComponent(id)}/heartbeat`, undefined, progress === undefined ? body : { ...body, progress });
  }

  /** What a completed job's success carried (null for nothing); UnprocessableError while the job has not completed. */
  async getResult(id: string): Promise<JsonValue> {
    return (await this.call<{ result: JsonValue }>("GET", `/jobs/${encodeURIComponent(id)}/result`)).result;
  }

  /** Every failure record of a job, by attempt (oldest first unless `order` is "desc"). */
  errors(id: string, options: { order?: "asc" | "desc"; pageSize?: number } = {}): AsyncGenerator<JobError> {
    const path = `/jobs/${encodeURIComponent(id)}/errors`;
    return this.paginate<{ errors: JobError[]; pages: PageLinks }, JobError>(path, { order: options.order, limit: options.pageSize }, (page) => page.errors);
  }

  async error(id: string, attempt: number): Promise<JobError> {
    return this.call("GET", `/jobs/${encodeURIComponent(id)}/errors/${attempt}`);
  }

  /**
   * Cancels a job that has not ended: it is dead with a Cancelled error; one in flight is ended too, and
   * its Worker's handler sees `context.signal` abort. UnprocessableError for a job that has ended.
   */
  async cancel(id: string): Promise<JobSummary> {
    return this.call("POST", `/jobs/${encodeURIComponent(id)}/cancel`);
  }

  /** Deletes every job. Irreversible. */
  async reset(): Promise<void> {
    await this.call("POST", "/reset");
  }

  /** Who works: the server's open take streams, with what their workers last reported about themselves. */
  async workers(): Promise<WorkerView[]> {
    return (await this.call<{ workers: WorkerView[] }>("GET", "/workers")).workers;
  }

  /** Tells the server about the worker `workerId` (a Worker does this itself, every 10 s). */
  async reportWorker(workerId: string, report: WorkerReport): Promise<void> {
    await this.call("PUT", `/workers/${encodeURIComponent(workerId)}/report`, undefined, report);
  }

  /**
   * Job lifecycle events as they happen (GET /events), every kind or those of `kinds`, of the given
   * queues and types; with `after` (an event's id), the recent ones after it first. Ends with close().
   */
  events(options: EventOptions = {}): EventStream {
    const filter: EventsRequest["filter"] = {};
    if (options.queues) filter.queues = options.queues;
    if (options.types) filter.types = options.types;
    if (options.kinds) filter.kinds = options.kinds;
    return this.transport.events(options.after === undefined ? { filter } : { filter, after: options.after });
  }

  /** Opens a take stream: jobs arrive as they become ready, leased to this stream until acked or failed. */
  take(options: TakeOptions = {}): TakeStream<Jobs> {
    const stream = this.transport.take({
      queues: options.queues ?? [],
      prefetch: options.prefetch ?? 1,
      ...(options.types ? { types: options.types } : {}),
      ...(options.workerId ? { workerId: options.workerId } : {}),
      ...(options.onCancel ? { onControl: (frame: CancelFrame) => options.onCancel!(frame.id, frame.run_id) } : {}),
    });
    return stream as TakeStream<Jobs>;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
