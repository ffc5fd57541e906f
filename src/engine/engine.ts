import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { BadRequestError, ConflictError, NotFoundError, OverloadedError, PayloadTooLargeError, UnprocessableError } from "../errors.js";
import { DEFAULT_RETRY_LIMIT } from "../job/backoff.js";
import { isJobId, newJobId } from "../job/ids.js";
import {
  applyPatch,
  cancel as cancelJob,
  CANCELLED,
  complete,
  DEFAULT_RETENTION,
  expire,
  expireAged,
  fail,
  isTerminal,
  missedDeadline,
  outlived,
  patchBreaksSignature,
  purgedOnEnd,
  requeue,
  type RetentionDefaults,
  withLeaseUntil,
} from "../job/state.js";
import { stringifyJson } from "../job/json.js";
import { JOB_STATUSES, type EnqueueInput, type JobStatus, type FailureInput, type Job, type JobError, type JobPatch, type JsonValue } from "../job/types.js";
import { validateName } from "../job/validate.js";
import { chunks } from "../slices.js";
import type { Logger } from "../log.js";
import type { Sharing } from "../store/sharing.js";
import type { DeletedJob, InsertOutcome, QueueCaps, SortOrder, StatusCount, Store, WorkflowRecord } from "../store/store.js";
import { systemClock, type Clock } from "./clock.js";
import { Alone } from "./coordination/alone.js";
import type { Coordination, EngineParts } from "./coordination/coordination.js";
import { Shared } from "./coordination/shared.js";
import { CLAIMED, claimedOnly, Dispatcher, type ControlSink, type InFlightJob, type JobSink, type Subscription, type TakeOptions } from "./dispatch.js";
import { inRun, notInFlight } from "./leases.js";
import { jobNotFound, takeStreamNotOpen, workflowNotFound } from "./not-found.js";
import { lifecycleLog, logFailure } from "./log.js";
import { DEFAULT_MAX_DEPENDENCY_RESULTS_BYTES, tooManyResults, withDependencyResults } from "./dependency-results.js";
import { applyQueuePatch, checkQueueKeys, DEFAULT_QUEUE_SETTINGS, isDefault, withQueueDefaults, withQueueKeys, type QueuePatch, type QueueSettings } from "./queue-settings.js";
import { QueueSettingsCache } from "./services/queue-settings-cache.js";
import { documentOf, jobIdsOf, planWorkflow, workflowView, type WorkflowDocument, type WorkflowStatus, type WorkflowView } from "./workflows.js";
import { joinObservers, type EngineObserver } from "./observer.js";
import { WorkerReports, type WorkerReport, type WorkerView } from "./worker-registry.js";
import { EventLog, eventsObserver, type EventFilter, type EventLogOptions, type EventSink } from "./events.js";
import { DEFAULT_FILTER_BUDGET, type FilterBudget } from "./payload-filter.js";
import { Batches, type EnqueueOutcome } from "./batches.js";
import { Crons } from "./crons.js";
import { CronTicks } from "./services/cron-ticks.js";
import { LeaseExpiry } from "./services/lease-expiry.js";
import { promotion } from "./services/promotion.js";
import { deadlines } from "./services/deadlines.js";
import type { DueService } from "./services/due-timer.js";
import { countMatching, scanMatching, type JobSelection } from "./scan.js";
import { Purge } from "./services/purge.js";
import { capsFor, dependencyRules, newJobs, requestPositions } from "./new-jobs.js";
import { MaxAge } from "./services/max-age.js";
import { ServiceRunner } from "./services/runner.js";
import { WritePath, type DecidedUpdate } from "./write-path.js";
import { checkOwnIds, checkSignatures, NO_SIGNATURE_RULES, type SignatureRules } from "./signatures.js";

export interface EngineOptions {
  store: Store;
  /** Given when other processes share the store: the engine then coordinates with them through it. */
  sharing?: Sharing;
  clock?: Clock;
  /** Jitter source in [0, 1). */
  random?: () => number;
  defaultRetryLimit?: number;
  retention?: Partial<RetentionDefaults>;
  /** Lease for one attempt when the job has no `timeout`, in seconds. */
  defaultTimeoutSeconds?: number;
  /** Jobs in flight across all take streams, at most. */
  maxInFlight?: number;
  /** Take streams open at once, at most (default 10,000): each holds a connection and memory. */
  maxTakeStreams?: number;
  /** How often leases are checked and retention runs, in ms. */
  maintenanceIntervalMs?: number;
  observer?: EngineObserver;
  /** Background failures (error) and the job lifecycle (info) are logged here. */
  logger: Logger;
  /** Largest result or saved state a job may keep, in bytes of JSON (default 1 MiB); beyond it, 413. */
  maxResultBytes?: number;
  /**
   * Largest payload a batch's folds may build, in bytes of JSON (default 16 MiB, what the server takes
   * in one request); an enqueue whose fold would pass it is 413, and nothing of it is written.
   */
  maxFoldedPayloadBytes?: number;
  /** What one jq filter evaluation may spend (time, memory). */
  filterBudget?: Partial<FilterBudget>;
  /**
   * Most bytes of JSON the results of one job's dependencies may take (default 16 MiB): a job taken
   * with load_dependencies whose results take more is dead, unsent, so no take frame grows past it.
   */
  maxDependencyResultsBytes?: number;
  /** The window of recent events kept for clients that resume (GET /events). */
  events?: EventLogOptions;
  /** Which signed jobs enqueues may bring (src/engine/signatures.ts); by default, any, signed or not, unchecked. */
  signatures?: SignatureRules;
}

export interface JobPage {
  jobs: Job[];
  /** True when more jobs match beyond this page. */
  more: boolean;
}

/** A result or saved state a job keeps, at most, by default: 1 MiB of JSON. */
export const DEFAULT_MAX_RESULT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_FOLDED_PAYLOAD_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_TAKE_STREAMS = 10_000;

/** Jobs changed per commit by a patch or delete over a selection. */
const SCAN_BATCH = 200;
/** Times a patch is tried on a job that keeps changing under it before the caller gets 409. */
const PATCH_ATTEMPTS = 3;

/**
 * The one engine behind every door. Every status change is computed by src/job/state.ts and
 * committed through the write path, which keeps the coordination's index and tallies, the
 * dispatcher and promotion in step. How this process works with others on the store (alone or
 * shared) is chosen once, here; time-driven duties are services (src/engine/services/).
 */
export class Engine {
  readonly clock: Clock;
  readonly filterBudget: FilterBudget;
  /** Cron groups: defined through here, fired by the cron service (services/cron-ticks.ts). */
  readonly crons: Crons;
  private readonly store: Store;
  private readonly coordination: Coordination;
  private readonly dispatcher: Dispatcher;
  private readonly writes: WritePath;
  private readonly promotion: DueService;
  private readonly deadlines: DueService;
  private readonly services: ServiceRunner;
  private readonly parts: EngineParts;
  private readonly random: () => number;
  private readonly retryLimit: number;
  private readonly retention: RetentionDefaults;
  private readonly timeoutSeconds: number;
  private readonly observer: EngineObserver;
  /** Job lifecycle events, for GET /events. */
  readonly events: EventLog;
  private readonly workerReports: WorkerReports;
  private readonly batches: Batches;
  private readonly maxResultBytes: number;
  private readonly signatureRules: SignatureRules;
  private readonly maxDependencyResultsBytes: number;
  private readonly logger: Logger;
  private readonly queueSettings: QueueSettingsCache;
  private readonly maxTakeStreams: number;

  private constructor(options: EngineOptions) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.filterBudget = { ...DEFAULT_FILTER_BUDGET, ...options.filterBudget };
    this.random = options.random ?? Math.random;
    this.retryLimit = options.defaultRetryLimit ?? DEFAULT_RETRY_LIMIT;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.timeoutSeconds = options.defaultTimeoutSeconds ?? 300;
    this.maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    this.signatureRules = options.signatures ?? NO_SIGNATURE_RULES;
    this.maxDependencyResultsBytes = options.maxDependencyResultsBytes ?? DEFAULT_MAX_DEPENDENCY_RESULTS_BYTES;
    this.maxTakeStreams = options.maxTakeStreams ?? DEFAULT_MAX_TAKE_STREAMS;
    this.logger = options.logger;
    const server = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.events = new EventLog(this.clock, server, options.events);
    this.workerReports = new WorkerReports(this.clock, server);
    this.observer = joinObservers(options.observer ?? {}, lifecycleLog(options.logger), eventsObserver(this.events));
    this.queueSettings = new QueueSettingsCache(this.store);
    const maintenanceIntervalMs = options.maintenanceIntervalMs ?? 1000;
    this.coordination = options.sharing
      ? new Shared({
        store: this.store,
        sharing: options.sharing,
        clock: this.clock,
        owner: server,
        defaultLeaseMs: Math.round(this.timeoutSeconds * 1000),
        observer: this.observer,
        logger: options.logger,
        queueSettings: this.queueSettings,
        maintenanceIntervalMs,
      })
      : new Alone(this.store, this.clock, (job) => this.leaseMs(job), this.queueSettings);
    this.dispatcher = new Dispatcher(
      this.coordination.claims,
      this.clock,
      {
        applyUpdates: (updates) => this.writes.update(updates),
        missedDeadlines: (jobs) => void this.expireMissed(jobs, this.clock.now()).catch((error: unknown) => logFailure(options.logger, "deadlines", error)),
      },
      options.maxInFlight ?? 10_000,
      this.observer,
      options.logger,
    );
    this.writes = new WritePath(this.store, this.coordination, {
      ready: () => this.dispatcher.wake(),
      // A freed slot of a limited queue is claimed again at once on this server (one freed elsewhere, at the next wake-up).
      leaseEnded: (queue) => {
        if (this.queueSettings.limited.has(queue)) this.dispatcher.wake();
      },
      scheduled: (readyAt) => this.promotion.note(readyAt),
      deadline: (at) => this.deadlines.note(at),
      deleted: (id) => void this.dispatcher.finish(id),
      leaseExtended: (id, runId, expiresAt, saved) => this.dispatcher.refresh(id, runId, (job) => withLeaseUntil(job, expiresAt, saved)),
    }, this.observer, dependencyRules(() => this.clock.now(), this.retention));
    this.batches = new Batches(this.store, this.writes, this.coordination, this.filterBudget, () => this.dispatcher.wake(), this.observer, options.maxFoldedPayloadBytes ?? DEFAULT_MAX_FOLDED_PAYLOAD_BYTES);
    this.promotion = promotion(this.store, this.clock, this.writes, options.logger);
    this.deadlines = deadlines(this.store, this.clock, (jobs, now) => this.expireMissed(jobs, now), options.logger);
    this.parts = { store: this.store, clock: this.clock, dispatcher: this.dispatcher, writes: this.writes, maintenanceIntervalMs, logger: options.logger, events: this.events, localWorkers: () => this.localWorkers() };
    this.events.connect(this.coordination.eventOutlet(this.events));
    const lead = (): Promise<boolean> => this.coordination.lead();
    const cronTicks = new CronTicks(this.store, this.clock, this.writes, lead, this.observer, options.logger, {
      prepare: (input) => this.cronJobInput(input),
      capsFor: (jobs) => this.capsFor(jobs),
    });
    this.crons = new Crons(this.store, this.writes, this.clock, cronTicks);
    this.services = new ServiceRunner(
      [
        ...this.coordination.services(this.parts),
        new LeaseExpiry(this.dispatcher, (jobs, now) => this.expireLeases(jobs, now), options.logger),
        this.promotion,
        this.deadlines,
        new Purge(this.writes),
        new MaxAge(this.store, this.queueSettings, (jobs, maxAgeMs, now) => this.expireAged(jobs, maxAgeMs, now)),
        cronTicks,
        this.queueSettings,
      ],
      this.clock,
      maintenanceIntervalMs,
      () => this.coordination.lead(),
      options.logger,
    );
  }

  /** Opens the engine on a store: brings this process in step with it (recovery), then starts the services. */
  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    await engine.coordination.start(engine.parts);
    await engine.services.start();
    return engine;
  }

  /** Whole milliseconds, as stores keep them. */
  private leaseMs(job: Job): number {
    return Math.round((job.timeout ?? this.timeoutSeconds) * 1000);
  }

  // ---- enqueue ----

  /** Jobs with a `batch` go through the batches (and fold or open batches); the others are inserted as they are. */
  async enqueue(inputs: EnqueueInput[]): Promise<EnqueueOutcome[]> {
    const jobs = await newJobs(inputs, this.clock.now(), this.queueSettings, this.filterBudget);
    const where = requestPositions(inputs.length);
    checkSignatures(jobs, this.signatureRules, this.queueSettings, where);
    const stored = await this.storedWithOwnIds(jobs, where);
    if (stored.size === 0) return this.insertNew(jobs, where);
    const fresh = jobs.filter((job) => !stored.has(job.id));
    const inserted = fresh.length === 0 ? [] : await this.insertNew(fresh, where);
    let next = 0;
    return jobs.map((job) => {
      const existing = stored.get(job.id);
      return existing ? { job: existing, duplicate: true } : inserted[next++]!;
    });
  }

  private insertNew(jobs: Job[], where: (position: number) => string): Promise<EnqueueOutcome[]> {
    const caps = this.capsFor(jobs);
    if (!jobs.some((job) => job.batch !== undefined)) return this.writes.insert(jobs, caps);
    return this.batches.enqueue(jobs, where, caps);
  }

  /**
   * The stored jobs that signed jobs of the request name by id: a signed enqueue sent again (a
   * client's retry) answers the job it made, as a duplicate. Two racing ones meet the primary key (409).
   */
  private async storedWithOwnIds(jobs: readonly Job[], where: (position: number) => string): Promise<Map<string, Job>> {
    const ownIds = checkOwnIds(jobs, where);
    if (ownIds.length === 0) return new Map();
    return new Map((await this.store.getJobs(ownIds)).map((job) => [job.id, job]));
  }

  /** Inputs keyed by their queues' key expressions (queue-settings.ts withQueueKeys); as they are while no queue has settings. */
  private keyed(inputs: EnqueueInput[], where: (position: number) => string): Promise<EnqueueInput[]> {
    if (this.queueSettings.empty) return Promise.resolve(inputs);
    return withQueueKeys(inputs, (queue) => this.queueSettings.get(queue), where, this.filterBudget);
  }

  /** The max_entries of the queues `jobs` go to, for their insert to check; none when none of them has one. */
  private capsFor(jobs: readonly Job[]): QueueCaps | undefined {
    return capsFor(jobs, this.queueSettings.capped, () => this.clock.now(), this.retention);
  }

  /**
   * A cron tick's job, given its queue's key and defaults as an enqueue is. A payload the key
   * expression cannot key goes in unkeyed (logged): refusing it would stop the group's ticks.
   */
  private async cronJobInput(input: EnqueueInput): Promise<EnqueueInput> {
    const settings = this.queueSettings.get(input.queue);
    if (!settings) return input;
    let keyed = input;
    try {
      keyed = (await this.keyed([input], () => `cron job of queue ${input.queue}`))[0]!;
    } catch (error) {
      logFailure(this.logger, "keying a cron job by its queue's key expression (it goes in unkeyed)", error);
    }
    return withQueueDefaults(keyed, settings);
  }

  // ---- take, ack, fail, heartbeat ----

  /** Opens a take stream. Checked here, so that in-process clients get the same answer as HTTP ones. */
  take(options: TakeOptions, sink: JobSink, control?: ControlSink): Subscription {
    if (!Number.isSafeInteger(options.prefetch) || options.prefetch < 0) {
      throw new BadRequestError(`prefetch must be a whole number, 0 (no limit) or more, got ${options.prefetch}`);
    }
    // Named as an enqueue names them: a reserved character is a 400 here too, not a stream that never gets a job.
    for (const queue of options.queues) validateName(queue, "queue");
    if (options.types?.length === 0) throw new BadRequestError("types must name at least one type; leave it out to take every type");
    for (const type of options.types ?? []) validateName(type, "type");
    if (this.dispatcher.streamCount >= this.maxTakeStreams) {
      throw new OverloadedError(`${this.dispatcher.streamCount} take streams are open, the most this server takes (--max-take-streams); try again once one closes`, 1);
    }
    const stillLeased = (job: Job): boolean => {
      const entry = this.dispatcher.lease(job.id);
      return entry?.job.run_id === job.run_id && entry?.stream?.closed === false;
    };
    const failed = (error: unknown): void => logFailure(this.logger, "dependency results", error);
    const withResults = withDependencyResults(sink, {
      store: this.store,
      stillLeased,
      failed,
      maxBytes: this.maxDependencyResultsBytes,
      tooLarge: (job, bytes) => void this.failLease(job.id, tooManyResults(bytes, this.maxDependencyResultsBytes), job.run_id, false).catch(failed),
    });
    return this.dispatcher.open(options, withResults, control);
  }

  /** Who works: the open take streams of every server on the store, with what their workers last reported. */
  async workers(): Promise<WorkerView[]> {
    return this.coordination.workers(this.localWorkers(), this.clock.now());
  }

  private localWorkers(): WorkerView[] {
    return this.workerReports.views(this.dispatcher.streamViews());
  }

  /** A worker's report about itself (by its Worker-Id), shown with its streams for a minute unless renewed. */
  reportWorker(workerId: string, report: WorkerReport): void {
    this.workerReports.report(workerId, report);
  }

  /** Sends `sink` the events that pass `filter` (after `cursor`, those of the window first) until the returned function is called. */
  watchEvents(filter: EventFilter, cursor: string | undefined, sink: EventSink): () => void {
    return this.events.watch(filter, cursor, sink);
  }

  /**
   * Closes a take stream on its client's request: it gets no more jobs, and
   * every job it still holds is ready again before this resolves. Lets a
   * worker shut down without racing the server's notice of a dropped socket.
   */
  async closeTake(streamId: string): Promise<void> {
    const stream = this.dispatcher.findStream(streamId);
    if (!stream) throw takeStreamNotOpen(streamId);
    await stream.close();
  }

  /** The queues an open take stream takes from (null: every queue); undefined when no such stream is open here. */
  takeStreamQueues(streamId: string): ReadonlySet<string> | null | undefined {
    return this.dispatcher.findStream(streamId)?.queues;
  }

  /**
   * The leases that acks or failures name, taken over from the dispatcher: this server's own, or on a
   * shared store ones another server made. An id whose lease is gone, or whose run id (when given)
   * is not the current one, is left out: a worker whose lease was taken over cannot end the new run.
   */
  private async takeLeases(wanted: ReadonlyMap<string, string | undefined>): Promise<InFlightJob[]> {
    const local: Array<InFlightJob | undefined> = [];
    const elsewhere: string[] = [];
    for (const [id, runId] of wanted) {
      const entry = this.dispatcher.lease(id);
      if (!entry) elsewhere.push(id);
      else if (inRun(entry.job, runId)) local.push(this.dispatcher.finish(id));
    }
    const current = await this.leasesElsewhere(elsewhere, wanted);
    return [...(await claimedOnly(local)), ...current.map((job) => ({ job, stream: undefined, claimed: CLAIMED }))];
  }

  /**
   * In-flight jobs another server leased, in the runs asked for. A job this server is claiming right
   * now also shows as in flight in the store; once our claims settle it is ours, and no worker can have
   * seen it yet, so it is not acked on someone else's behalf.
   */
  private async leasesElsewhere(ids: string[], wanted: ReadonlyMap<string, string | undefined>): Promise<Job[]> {
    const stored = await this.coordination.foreignLeases(ids);
    if (stored.length === 0) return [];
    await this.dispatcher.settleClaims();
    return stored.filter((job) => inRun(job, wanted.get(job.id)) && !this.dispatcher.lease(job.id));
  }

  /**
   * Acknowledges jobs; returns the ids that were not in flight (the rest are completed). `runIds` and
   * `results` (what each success carried, kept with the job) align with `ids`.
   */
  async ack(ids: readonly string[], runIds?: ReadonlyArray<string | undefined>, results?: ReadonlyArray<JsonValue | undefined>): Promise<string[]> {
    const now = this.clock.now();
    results?.forEach((result, position) => this.checkKept(result, `results[${position}]`));
    const resultOf = results && new Map(ids.map((id, position) => [id, results[position]]));
    const wanted = new Map(ids.map((id, position) => [id, runIds?.[position]]));
    const finished = await this.takeLeases(wanted);
    const acked = new Set(finished.map(({ job }) => job.id));
    const notFound = [...wanted.keys()].filter((id) => !acked.has(id));
    if (finished.length === 0) return notFound;
    const endings = finished.map(({ job }) => ({ before: job, after: complete(job, now, this.retention, resultOf?.get(job.id)) }));
    let applied: boolean[];
    try {
      applied = await this.commitEndings(endings);
    } catch (error) {
      for (const entry of finished) this.dispatcher.restore(entry);
      throw error;
    }
    endings.forEach(({ after }, position) => {
      if (!applied[position]) return notFound.push(after.id);
      this.dispatcher.tally(finished[position]!, "completed");
      this.observer.completed?.(after);
    });
    this.announceEnded(finished.filter(({ stream }, position) => stream === undefined && applied[position]).map(({ job }) => job));
    return notFound;
  }

  fail(id: string, failure: FailureInput, runId?: string): Promise<Job> {
    return this.failLease(id, failure, runId, false);
  }

  /**
   * Cancels a job that has not ended: a waiting one (blocked, scheduled, ready) is dead at once with a
   * Cancelled error; an in-flight one too, as a failure that kills it, and the stream holding it is told
   * (a control frame, to streams that asked for them; through its server where another holds it), so
   * whatever its worker answers later is refused. 422 for a job that has ended.
   */
  async cancel(id: string): Promise<Job> {
    for (let attempt = 0; ; attempt++) {
      const job = await this.getJob(id);
      if (job.status === "in_flight") {
        try {
          return await this.failLease(id, { message: "cancelled by request", error_type: CANCELLED, kill: true }, undefined, true);
        } catch (error) {
          if (!(error instanceof NotFoundError) || attempt > 2) throw error;
          continue;
        }
      }
      if (isTerminal(job.status)) throw new UnprocessableError(`job ${id} is ${job.status}: only a job that has not ended can be cancelled`);
      const { job: after, error } = cancelJob(job, this.clock.now(), this.retention);
      const [applied] = await this.commitEndings([{ before: job, after, error }]);
      if (applied) {
        this.observer.failed?.(after, error);
        this.observer.died?.(after);
        return after;
      }
      if (attempt > 2) throw new ConflictError(`job ${id} changed while being cancelled; try again`);
    }
  }

  /** Fails the lease of `id` (in run `runId`, when given); a cancel also tells the stream that held it. */
  private async failLease(id: string, failure: FailureInput, runId: string | undefined, cancelled: boolean): Promise<Job> {
    const [entry] = await this.takeLeases(new Map([[id, runId]]));
    if (!entry) throw notInFlight(id, runId);
    let failed: Job | undefined;
    try {
      [failed] = await this.recordFailures([entry.job], () => failure);
    } catch (error) {
      this.dispatcher.restore(entry);
      throw error;
    }
    if (!failed) throw new NotFoundError(`job ${id} is no longer in flight`);
    this.dispatcher.tally(entry, "failed");
    if (entry.stream === undefined) this.announceEnded([entry.job], cancelled);
    else if (cancelled) this.dispatcher.tellCancelled(entry);
    return failed;
  }

  /**
   * Fails in-flight jobs in one commit; per job, the failed job, or undefined when its attempt had
   * already ended (another run, or with `leaseExpiredBy`, a lease extended past that time elsewhere).
   */
  private async recordFailures(jobs: Job[], failureOf: (job: Job) => FailureInput, leaseExpiredBy?: number): Promise<Array<Job | undefined>> {
    const now = this.clock.now();
    const endings: Array<DecidedUpdate & { error: JobError }> = jobs.map((job) => {
      const failure = failureOf(job);
      const after = fail(job, failure, { now, random: this.random(), defaultRetryLimit: this.retryLimit, retention: this.retention });
      const error: JobError = { attempt: after.attempts, message: failure.message, dequeued_at: job.dequeued_at ?? now, failed_at: now };
      if (failure.error_type !== undefined) error.error_type = failure.error_type;
      if (failure.backtrace !== undefined) error.backtrace = failure.backtrace;
      return { before: job, after, error };
    });
    const applied = await this.commitEndings(endings, leaseExpiredBy);
    return endings.map(({ after, error }, position) => {
      if (!applied[position]) return undefined;
      if (leaseExpiredBy !== undefined) this.observer.leaseExpired?.(after);
      this.observer.failed?.(after, error);
      if (after.status === "dead") this.observer.died?.(after);
      return after;
    });
  }

  /**
   * Commits the ends of attempts together: a job its retention purges at once is deleted (with its
   * errors, so its error record is not written) unless others depend on it (WritePath purgedEnds), the
   * others are updated. Tracks and reports, per
   * ending, whether it applied.
   */
  private async commitEndings(endings: DecidedUpdate[], leaseExpiredBy?: number): Promise<boolean[]> {
    const now = this.clock.now();
    const fenced = leaseExpiredBy === undefined ? endings : endings.map((ending) => ({ ...ending, leaseExpiredBy }));
    const purged = fenced.map(({ after }) => purgedOnEnd(after, now));
    const stays = fenced.filter((_ending, position) => !purged[position]);
    const result = await this.writes.commit({ updates: stays, purgedEnds: fenced.filter((_ending, position) => purged[position]) });
    let [update, end] = [0, 0];
    return purged.map((isPurged) => (isPurged ? result.ended[end++]! : result.updated[update++]!));
  }

  /**
   * Extends the lease of an in-flight job (in run `runId`, when given) by its full lease length and, with
   * `state`, saves it for the job's next attempts (what a retried attempt resumes from).
   */
  async heartbeat(id: string, runId?: string, state?: JsonValue, progress?: JsonValue): Promise<{ id: string; run_id: string; lease_expires_at: number }> {
    this.checkKept(state, "state");
    this.checkKept(progress, "progress");
    const entry = this.dispatcher.lease(id);
    if (entry) await entry.claimed;
    const job = entry?.job ?? (await this.coordination.foreignLeases([id]))[0];
    if (!job || !inRun(job, runId) || job.run_id === undefined) throw notInFlight(id, runId);
    const expiresAt = this.clock.now() + this.leaseMs(job);
    if (!(await this.writes.extendLease(job, expiresAt, { state, progress }))) throw new NotFoundError(`job ${id} is no longer in flight`);
    this.dispatcher.seen(entry);
    if (progress !== undefined) this.observer.progress?.(job, progress);
    return { id, run_id: job.run_id, lease_expires_at: expiresAt };
  }

  /** A result or state a job is to keep: refused (413) beyond maxResultBytes of JSON. Checked before the job is looked up. */
  checkKept(value: JsonValue | undefined, field: string): void {
    if (value === undefined) return;
    const bytes = Buffer.byteLength(stringifyJson(value));
    if (bytes > this.maxResultBytes) throw new PayloadTooLargeError(`${field} is ${bytes} bytes of JSON; a job keeps at most ${this.maxResultBytes}`);
  }

  // ---- reading ----

  async getJob(id: string): Promise<Job> {
    const job = this.localCopy(id) ?? (await this.store.getJob(id));
    if (!job) throw jobNotFound(id);
    return job;
  }

  /** The jobs of `ids` that exist, each read as getJob reads one (ids no job can have are none). */
  findJobs(ids: readonly string[]): Promise<Job[]> {
    return this.currentJobs(ids.filter(isJobId));
  }

  /** Our in-flight copy of a job, when the coordination knows it is the newest version. */
  private localCopy(id: string): Job | undefined {
    return this.coordination.currentCopy(this.dispatcher.lease(id));
  }

  async listJobs(selection: JobSelection, page: { after?: string; order: SortOrder; limit: number }): Promise<JobPage> {
    const jobs: Job[] = [];
    const start = { order: page.order, rowsPerRound: page.limit + 1, ...(page.after === undefined ? {} : { after: page.after }) };
    for await (const matched of scanMatching(this.store, selection, start)) {
      jobs.push(...matched);
      if (jobs.length > page.limit) return { jobs: jobs.slice(0, page.limit), more: true };
    }
    return { jobs, more: false };
  }

  /** Every job matching the selection, in id order, at most SCAN_BATCH at a time (a batch is one commit for patches and deletes). */
  private async *matching(selection: JobSelection): AsyncGenerator<Job[]> {
    for await (const matched of scanMatching(this.store, selection, { order: "asc", rowsPerRound: SCAN_BATCH })) {
      yield* chunks(matched, SCAN_BATCH);
    }
  }

  async countJobs(selection: JobSelection): Promise<number> {
    return selection.filter ? countMatching(this.store, selection.query, selection.filter) : this.store.countJobs(selection.query);
  }

  /** Queues that hold at least one job, sorted. */
  async queues(): Promise<string[]> {
    return [...new Set((await this.statusCounts()).filter(({ count }) => count > 0).map(({ queue }) => queue))].sort();
  }

  /** Jobs by queue and status. */
  statusCounts(): Promise<StatusCount[]> {
    return this.coordination.statusCounts();
  }

  get inFlightCount(): number {
    return this.dispatcher.inFlightCount;
  }

  get takeStreamCount(): number {
    return this.dispatcher.streamCount;
  }

  async listErrors(jobId: string, page: { afterAttempt?: number; order: SortOrder; limit: number }): Promise<{ errors: JobError[]; more: boolean }> {
    await this.getJob(jobId);
    const errors = await this.store.listErrors(jobId, { ...page, limit: page.limit + 1 });
    return { errors: errors.slice(0, page.limit), more: errors.length > page.limit };
  }

  /** What a completed job's success carried (null when it carried nothing); 422 while the job has not completed. */
  async getResult(id: string): Promise<JsonValue> {
    const job = await this.getJob(id);
    if (job.status !== "completed") throw new UnprocessableError(`job ${id} is ${job.status}; it has a result once it has completed`);
    return job.result ?? null;
  }

  async getError(jobId: string, attempt: number): Promise<JobError> {
    await this.getJob(jobId);
    const error = await this.store.getError(jobId, attempt);
    if (!error) throw new NotFoundError(`job ${jobId} has no error for attempt ${attempt}`);
    return error;
  }

  // ---- changing and deleting ----

  async patchJob(id: string, patch: JobPatch): Promise<Job> {
    const [patched] = await this.patchRetrying([await this.getJob(id)], patch);
    if (patched) return patched;
    await this.getJob(id);
    throw new ConflictError(`job ${id} kept changing while it was being patched; try again`);
  }

  /**
   * Patches jobs optimistically: a job that changed under the patch (claimed, promoted, acked) is read
   * again and patched again, a few times; jobs that are gone or have become terminal are left out.
   */
  private async patchRetrying(jobs: Job[], patch: JobPatch): Promise<Job[]> {
    const patched: Job[] = [];
    let pending = jobs;
    for (let attempt = 0; attempt < PATCH_ATTEMPTS && pending.length > 0; attempt++) {
      const done = await this.patchMany(pending, patch);
      patched.push(...done);
      const doneIds = new Set(done.map((job) => job.id));
      const reread = await this.currentJobs(pending.filter((job) => !doneIds.has(job.id)).map((job) => job.id));
      pending = reread.filter((job) => !isTerminal(job.status));
    }
    return patched;
  }

  /** The jobs as they are now (those that still exist), once claims of them under way have settled: one read for all. */
  private async currentJobs(ids: string[]): Promise<Job[]> {
    if (ids.length === 0) return [];
    await Promise.all(ids.map((id) => this.dispatcher.lease(id)?.claimed));
    const local = ids.map((id) => this.localCopy(id));
    const stored = new Map((await this.store.getJobs(ids.filter((_id, position) => !local[position]))).map((job) => [job.id, job]));
    return ids.flatMap((id, position) => {
      const job = local[position] ?? stored.get(id);
      return job ? [job] : [];
    });
  }

  private async patchMany(jobs: Job[], patch: JobPatch): Promise<Job[]> {
    await Promise.all(jobs.map((job) => this.dispatcher.lease(job.id)?.claimed));
    const now = this.clock.now();
    const changes = jobs.map((before) => ({ before, after: applyPatch(before, patch, now) }));
    const applied = await this.writes.update(changes);
    const patched: Job[] = [];
    changes.forEach(({ before, after }, position) => {
      if (!applied[position]) return;
      // Only the copy of the lease this patch was made from: a claim that landed just after it leased the patched job afresh.
      if (before.status === "in_flight") this.dispatcher.refresh(after.id, before.run_id, () => after);
      patched.push(after);
    });
    return patched;
  }

  /** Patches every non-terminal job that matches; naming a terminal status is an error. */
  async patchJobs(selection: JobSelection, patch: JobPatch): Promise<number> {
    const terminal = selection.query.statuses?.filter((status) => isTerminal(status)) ?? [];
    if (terminal.length > 0) throw new UnprocessableError(`${terminal.join(", ")} jobs cannot be patched`);
    let patched = 0;
    for await (const jobs of this.matching(selection)) {
      // A signed job is left as it is by a bulk patch that would break its signature (one by id is refused).
      const live = jobs.filter((job) => !isTerminal(job.status) && !patchBreaksSignature(job, patch)).map((job) => this.localCopy(job.id) ?? job);
      patched += (await this.patchRetrying(live, patch)).length;
    }
    return patched;
  }

  /**
   * Retries a dead job: enqueues a fresh copy (state.ts requeue) and deletes the dead one, in one
   * commit, so the work is never lost between the two and the dead job's own unique key passes to
   * the copy. If another job holds the key, that job is the answer (a duplicate) and the dead one
   * goes all the same: its work is queued.
   */
  async requeueDead(id: string): Promise<InsertOutcome> {
    const dead = await this.getJob(id);
    const copy = requeue(dead, newJobId(), this.clock.now());
    const result = await this.writes.commit({ deletes: [{ id, from: "dead" }], inserts: [copy], caps: this.capsFor([copy]) });
    return result.inserted[0]!;
  }

  async deleteJob(id: string): Promise<void> {
    const result = await this.writes.commit({ deletes: [{ id }] });
    if (result.deleted.length === 0) throw jobNotFound(id);
    this.observer.deleted?.(result.deleted);
  }

  async deleteJobs(selection: JobSelection): Promise<number> {
    if (!selection.filter) return this.deletedOnRequest(await this.writes.deleteMatching(selection.query));
    let deleted = 0;
    for await (const jobs of this.matching(selection)) {
      deleted += this.deletedOnRequest((await this.writes.commit({ deletes: jobs.map((job) => ({ id: job.id })) })).deleted);
    }
    return deleted;
  }

  private deletedOnRequest(deleted: DeletedJob[]): number {
    if (deleted.length > 0) this.observer.deleted?.(deleted);
    return deleted.length;
  }

  // ---- queues ----

  /** A queue's settings and its jobs by status (every status, 0 when none). */
  async getQueue(queue: string): Promise<{ queue: string; settings: QueueSettings; counts: Record<JobStatus, number> }> {
    validateName(queue, "queue", (message) => new NotFoundError(message));
    const settings = (await this.store.getQueueSettings(queue)) ?? DEFAULT_QUEUE_SETTINGS;
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const { queue: name, status, count } of await this.statusCounts()) if (name === queue) counts[status] += count;
    return { queue, settings, counts };
  }

  /** Changes a queue's settings (null resets one); a resumed (or less limited) queue's jobs go to open take streams at once. */
  async patchQueue(queue: string, patch: QueuePatch): Promise<{ queue: string; settings: QueueSettings; counts: Record<JobStatus, number> }> {
    validateName(queue, "queue", (message) => new NotFoundError(message));
    const settings = applyQueuePatch((await this.store.getQueueSettings(queue)) ?? DEFAULT_QUEUE_SETTINGS, patch);
    await checkQueueKeys(settings, patch, this.filterBudget);
    const pausedBefore = this.queueSettings.get(queue)?.paused ?? false;
    await this.store.putQueueSettings(queue, isDefault(settings) ? undefined : settings);
    this.queueSettings.changed(queue, isDefault(settings) ? undefined : settings);
    this.dispatcher.wake();
    if (settings.paused !== pausedBefore) this.observer.queuePaused?.(queue, settings.paused);
    return this.getQueue(queue);
  }

  // ---- workflows ----

  /** Enqueues a chain or group (src/engine/workflows.ts) and its record in one transaction. */
  async createWorkflow(body: unknown): Promise<{ id: string; status: WorkflowStatus; jobs: string[] }> {
    const plan = planWorkflow(body);
    const now = this.clock.now();
    const id = newJobId();
    const ids = plan.inputs.map(() => newJobId());
    const where = (position: number): string => `workflow job ${position}`;
    const jobs = await newJobs(plan.inputs, now, this.queueSettings, this.filterBudget, {
      where,
      ids,
      withMetadata: (input, position) => {
        const parent = plan.parents[position];
        return { ...input, correlation_id: id, ...(parent === undefined ? {} : { parent_job_id: ids[parent]! }) };
      },
    });
    checkSignatures(jobs, this.signatureRules, this.queueSettings, where);
    const document = documentOf(plan, ids);
    await this.writes.insertWorkflow(jobs, { id, created_at: now, document: JSON.stringify(document) }, this.capsFor(jobs));
    return { id, status: "running", jobs: document.steps };
  }

  async getWorkflow(id: string): Promise<WorkflowView> {
    const { record, document } = await this.workflowRecord(id);
    const jobs = await this.currentJobs(jobIdsOf(document));
    return workflowView(id, record.created_at, document, new Map(jobs.map((job) => [job.id, job])));
  }

  /** Deletes a workflow's unfinished jobs (their dependents settle as for any deletion), then the workflow; answers how many jobs went. */
  async deleteWorkflow(id: string): Promise<number> {
    const { document } = await this.workflowRecord(id);
    const deleted = await this.deleteJobs({ query: { ids: jobIdsOf(document), statuses: JOB_STATUSES.filter((status) => !isTerminal(status)) } });
    await this.store.deleteWorkflow(id);
    return deleted;
  }

  /** The queues of a workflow's jobs, as enqueued (for a workflow made before they were recorded, of its jobs still stored). */
  async workflowQueues(id: string): Promise<string[]> {
    const { document } = await this.workflowRecord(id);
    return document.queues ?? [...new Set((await this.currentJobs(jobIdsOf(document))).map((job) => job.queue))];
  }

  private async workflowRecord(id: string): Promise<{ record: WorkflowRecord; document: WorkflowDocument }> {
    const record = await this.store.getWorkflow(id);
    if (!record) throw workflowNotFound(id);
    return { record, document: JSON.parse(record.document) as WorkflowDocument };
  }

  /** Every job and every cron group. */
  async reset(): Promise<void> {
    await this.crons.deleteAll();
    this.deletedOnRequest(await this.writes.deleteMatching(undefined));
    await this.queueSettings.tick();
  }

  /** Leases another server made that ended here (a client behind a load balancer): it is told, to free their slots. */
  private announceEnded(jobs: Job[], cancelled = false): void {
    this.coordination.announceEnded(jobs.flatMap(({ id, run_id: runId }) => (runId === undefined ? [] : [cancelled ? { id, runId, cancelled } : { id, runId }])));
  }

  /** Records the attempts whose lease ran out by `now` as failed (the lease-expiry service's work). */
  private async expireLeases(jobs: Job[], now: number): Promise<void> {
    await this.recordFailures(jobs, (job) => ({
      message: `lease expired after ${this.leaseMs(job) / 1000}s without an ack`,
      error_type: "LeaseExpired",
    }), now);
  }

  /** Makes dead the jobs that were still waiting to start when their deadline passed (the deadline service's and a claim's finding). */
  private expireMissed(jobs: Job[], now: number): Promise<void> {
    return this.endUnstarted(jobs.filter((job) => missedDeadline(job, now)).map((before) => {
      const { job: after, error } = expire(before, now, this.retention);
      return { before, after, error };
    }));
  }

  /** Makes dead the jobs that waited in their queue longer than its max_age_ms (the max-age service's finding). */
  private expireAged(jobs: Job[], maxAgeMs: number, now: number): Promise<void> {
    return this.endUnstarted(jobs.filter((job) => outlived(job, maxAgeMs, now)).map((before) => {
      const { job: after, error } = expireAged(before, maxAgeMs, now, this.retention);
      return { before, after, error };
    }));
  }

  /** Commits the deaths of jobs that never started, and tells the observer of those that applied. */
  private async endUnstarted(endings: Array<DecidedUpdate & { error: JobError }>): Promise<void> {
    if (endings.length === 0) return;
    const applied = await this.commitEndings(endings);
    endings.forEach(({ after, error }, position) => {
      if (!applied[position]) return;
      this.observer.failed?.(after, error);
      this.observer.died?.(after);
    });
  }

  /** Stops timers, returns in-flight jobs to ready and closes the store. */
  async close(): Promise<void> {
    this.coordination.stop();
    await this.services.stop();
    await this.dispatcher.closeAll();
    await this.store.close();
  }
}

