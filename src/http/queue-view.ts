/**
 * The engine as a caller limited to some queues sees it (an Identity with queue patterns). What lies
 * outside its queues answers as what does not exist: the engine's own not-found answer for a job,
 * workflow, take stream or dependency, nothing in a list or count, not_found in a bulk ack. So such
 * a caller cannot learn whether a job exists elsewhere; for that, what the engine checks of a call
 * before it looks the job up (a result's size) is checked here first too. What the caller names
 * outside its queues itself (an enqueue's queue, a take stream's, a queue's settings, a patch's new
 * queue) is a 403: the name alone decides that.
 */
import { ForbiddenError, type NotFoundError } from "../errors.js";
import type { Clock } from "../engine/clock.js";
import type { ControlSink, JobSink, Subscription, TakeOptions } from "../engine/dispatch.js";
import type { EventFilter, EventSink } from "../engine/events.js";
import type { WorkerReport } from "../engine/worker-registry.js";
import type { Engine } from "../engine/engine.js";
import { notInFlight } from "../engine/leases.js";
import { jobNotFound, takeStreamNotOpen, workflowNotFound } from "../engine/not-found.js";
import type { QueuePatch } from "../engine/queue-settings.js";
import type { FilterBudget } from "../engine/payload-filter.js";
import type { JobSelection } from "../engine/scan.js";
import { planWorkflow } from "../engine/workflows.js";
import { newJobId } from "../job/ids.js";
import { dependencyNotFound } from "../store/dependencies.js";
import type { EnqueueInput, FailureInput, JobPatch, JsonValue } from "../job/types.js";
import type { Identity, QueuePatterns } from "./identity.js";

type JobsPage = Parameters<Engine["listJobs"]>[1];
type ErrorPage = Parameters<Engine["listErrors"]>[1];

/** The engine's calls the API makes on a caller's behalf about its queues' jobs (all but those that reach every queue). */
export type QueueView = Pick<
  Engine,
  | "clock"
  | "filterBudget"
  | "enqueue"
  | "createWorkflow"
  | "take"
  | "watchEvents"
  | "reportWorker"
  | "closeTake"
  | "ack"
  | "fail"
  | "heartbeat"
  | "cancel"
  | "getJob"
  | "getResult"
  | "listErrors"
  | "getError"
  | "patchJob"
  | "deleteJob"
  | "requeueDead"
  | "listJobs"
  | "countJobs"
  | "patchJobs"
  | "deleteJobs"
  | "queues"
  | "getQueue"
  | "patchQueue"
  | "getWorkflow"
  | "deleteWorkflow"
>;

/** The identity's view of the engine: the engine itself for an identity that may reach every queue. */
export function queueViewFor(engine: Engine, identity: Identity | undefined): QueueView {
  return identity?.queues ? new QueueLimitedView(engine, identity.name, identity.queues) : engine;
}

class QueueLimitedView implements QueueView {
  constructor(
    private readonly engine: Engine,
    private readonly name: string,
    private readonly patterns: QueuePatterns,
  ) {}

  get clock(): Clock {
    return this.engine.clock;
  }

  get filterBudget(): FilterBudget {
    return this.engine.filterBudget;
  }

  // ---- what the caller names: outside its queues, 403 ----

  async enqueue(inputs: EnqueueInput[]) {
    this.mayName(inputs.map((input) => input.queue));
    await this.mayDependOn(inputs);
    return this.engine.enqueue(inputs);
  }

  async createWorkflow(body: unknown) {
    const { inputs } = planWorkflow(body);
    this.mayName(inputs.map((input) => input.queue));
    await this.mayDependOn(inputs);
    return this.engine.createWorkflow(body);
  }

  take(options: TakeOptions, sink: JobSink, control?: ControlSink): Subscription {
    if (options.queues.length === 0) throw new ForbiddenError(`${this.name} may take only from ${this.described()}: name the queues to take from`);
    this.mayName(options.queues);
    return this.engine.take(options, sink, control);
  }

  /** A report names no queue: any work token may send its worker's. */
  reportWorker(workerId: string, report: WorkerReport): void {
    this.engine.reportWorker(workerId, report);
  }

  /** Events of its queues only: those of other queues, and those of no queue (a leader elected), are not for it. */
  watchEvents(filter: EventFilter, cursor: string | undefined, sink: EventSink): () => void {
    return this.engine.watchEvents({ ...filter, mayRead: (queue) => this.patterns.matches(queue) }, cursor, sink);
  }

  getQueue(queue: string) {
    this.mayName([queue]);
    return this.engine.getQueue(queue);
  }

  patchQueue(queue: string, patch: QueuePatch) {
    this.mayName([queue]);
    return this.engine.patchQueue(queue, patch);
  }

  // ---- what the caller reaches by id: outside its queues, as if it did not exist ----

  async closeTake(streamId: string): Promise<void> {
    const queues = this.engine.takeStreamQueues(streamId);
    // undefined: no such stream, which the engine answers itself; null: one of every queue.
    const hidden = queues === null || (queues !== undefined && ![...queues].every((queue) => this.patterns.matches(queue)));
    if (hidden) throw takeStreamNotOpen(streamId);
    return this.engine.closeTake(streamId);
  }

  async fail(id: string, failure: FailureInput, runId?: string) {
    await this.ownJob(id, () => notInFlight(id, runId));
    return this.engine.fail(id, failure, runId);
  }

  async heartbeat(id: string, runId?: string, state?: JsonValue, progress?: JsonValue) {
    this.engine.checkKept(state, "state");
    this.engine.checkKept(progress, "progress");
    await this.ownJob(id, () => notInFlight(id, runId));
    return this.engine.heartbeat(id, runId, state, progress);
  }

  async cancel(id: string) {
    await this.ownJob(id);
    return this.engine.cancel(id);
  }

  async getJob(id: string) {
    await this.ownJob(id);
    return this.engine.getJob(id);
  }

  async getResult(id: string) {
    await this.ownJob(id);
    return this.engine.getResult(id);
  }

  async listErrors(id: string, page: ErrorPage) {
    await this.ownJob(id);
    return this.engine.listErrors(id, page);
  }

  async getError(id: string, attempt: number) {
    await this.ownJob(id);
    return this.engine.getError(id, attempt);
  }

  async patchJob(id: string, patch: JobPatch) {
    // First, as it looks nothing up: a job outside and a missing one must get the same answer.
    this.mayMoveTo(patch);
    await this.ownJob(id);
    return this.engine.patchJob(id, patch);
  }

  async deleteJob(id: string): Promise<void> {
    await this.ownJob(id);
    return this.engine.deleteJob(id);
  }

  async requeueDead(id: string) {
    await this.ownJob(id);
    return this.engine.requeueDead(id);
  }

  async getWorkflow(id: string) {
    await this.ownWorkflow(id);
    return this.engine.getWorkflow(id);
  }

  async deleteWorkflow(id: string) {
    await this.ownWorkflow(id);
    return this.engine.deleteWorkflow(id);
  }

  /** Jobs outside its queues are not in flight as far as the caller can tell: they come back in not_found. */
  async ack(ids: readonly string[], runIds?: ReadonlyArray<string | undefined>, results?: ReadonlyArray<JsonValue | undefined>): Promise<string[]> {
    results?.forEach((result, position) => this.engine.checkKept(result, `results[${position}]`));
    const hidden = await this.hiddenJobs(ids);
    if (hidden.size === 0) return this.engine.ack(ids, runIds, results);
    const kept = ids.flatMap((id, position) => (hidden.has(id) ? [] : [position]));
    const notAcked = new Set(await this.engine.ack(
      kept.map((position) => ids[position]!),
      runIds && kept.map((position) => runIds[position]),
      results && kept.map((position) => results[position]),
    ));
    return [...new Set(ids)].filter((id) => hidden.has(id) || notAcked.has(id));
  }

  // ---- selections: only ever its own queues ----

  async listJobs(selection: JobSelection, page: JobsPage) {
    return this.engine.listJobs(await this.within(selection), page);
  }

  async countJobs(selection: JobSelection): Promise<number> {
    return this.engine.countJobs(await this.within(selection));
  }

  async patchJobs(selection: JobSelection, patch: JobPatch): Promise<number> {
    this.mayMoveTo(patch);
    return this.engine.patchJobs(await this.within(selection), patch);
  }

  async deleteJobs(selection: JobSelection): Promise<number> {
    return this.engine.deleteJobs(await this.within(selection));
  }

  async queues(): Promise<string[]> {
    return (await this.engine.queues()).filter((queue) => this.patterns.matches(queue));
  }

  /** The selection narrowed to the caller's queues: a queue it names outside them selects nothing, as a queue without jobs. */
  private async within(selection: JobSelection): Promise<JobSelection> {
    const named = selection.query.queues ?? (await this.engine.queues());
    return { ...selection, query: { ...selection.query, queues: named.filter((queue) => this.patterns.matches(queue)) } };
  }

  private mayName(queues: readonly string[]): void {
    const outside = queues.find((queue) => !this.patterns.matches(queue));
    if (outside !== undefined) throw new ForbiddenError(`${this.name} may reach only ${this.described()}, not queue ${JSON.stringify(outside)}`);
  }

  /** A patch that moves jobs moves them to a queue the caller names. */
  private mayMoveTo(patch: JobPatch): void {
    if (patch.queue !== undefined) this.mayName([patch.queue]);
  }

  private described(): string {
    return `queues ${this.patterns.patterns.map((pattern) => JSON.stringify(pattern)).join(", ")}`;
  }

  /** A job outside the caller's queues answers `notFound`, the engine's answer for a job that does not exist. */
  private async ownJob(id: string, notFound: () => NotFoundError = () => jobNotFound(id)): Promise<void> {
    if ((await this.hiddenJobs([id])).size > 0) throw notFound();
  }

  private async hiddenJobs(ids: readonly string[]): Promise<Set<string>> {
    const jobs = await this.engine.findJobs(ids);
    return new Set(jobs.filter((job) => !this.patterns.matches(job.queue)).map((job) => job.id));
  }

  /**
   * A dependency on a job outside the caller's queues is refused as one on a job that does not exist
   * (the store's answer, naming the job by the fresh id it was to have), so an enqueue cannot probe them.
   */
  private async mayDependOn(inputs: readonly EnqueueInput[]): Promise<void> {
    const named = inputs.flatMap((input) => (input.dependencies ?? []).filter((dependency): dependency is string => typeof dependency === "string"));
    if (named.length === 0) return;
    const hidden = await this.hiddenJobs(named);
    const dependsOn = named.find((id) => hidden.has(id));
    if (dependsOn !== undefined) throw dependencyNotFound(newJobId(), dependsOn);
  }

  private async ownWorkflow(id: string): Promise<void> {
    const queues = await this.engine.workflowQueues(id);
    if (!queues.every((queue) => this.patterns.matches(queue))) throw workflowNotFound(id);
  }
}
