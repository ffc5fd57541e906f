/**
 * Workflows: a chain or group of steps compiled into jobs with dependencies, so they run on the one
 * mechanism every job has (src/store/dependencies.ts). A chain's step waits for the exits of the step
 * before it (the jobs nothing later in that step waits for) and is taken with their results; a group's
 * steps wait for what the group waits for. `on_success` waits for a step's exits; `on_error` waits for
 * them too but runs on failure (a death anywhere in a step reaches its exits, since dependents of a dead
 * job die with it) and is discarded when they all complete.
 */
import { BadRequestError } from "../errors.js";
import { describe, parseEnqueueInput, readObject, rejectUnknownFields } from "../job/validate.js";
import type { EnqueueInput, Job, JsonValue, Retention } from "../job/types.js";

/** Most jobs one workflow enqueues, callbacks included. */
export const MAX_WORKFLOW_JOBS = 10_000;
/** Most exits a callback or a chain step may wait for: the most dependencies a job may have. */
const MAX_EXITS = 1000;
/** How long a workflow's jobs are kept once ended, unless the workflow or the step says otherwise: a day. */
export const DEFAULT_WORKFLOW_RETENTION_MS = 86_400_000;

/** A step as stored: a job (its id), or a chain or group of steps, each with its callbacks' ids. */
export type StepShape<Ref> = ({ job: Ref } | { chain: Array<StepShape<Ref>> } | { group: Array<StepShape<Ref>> }) & {
  on_success?: Ref;
  on_error?: Ref;
};

/** The jobs of a workflow to enqueue (dependencies as positions in `inputs`) and its shape over those positions. */
export interface WorkflowPlan {
  inputs: EnqueueInput[];
  shape: StepShape<number>;
  /** Per input, the position of the one workflow job it directly follows, if exactly one (its parent_job_id). */
  parents: Array<number | undefined>;
  /** Positions of the step jobs, in step order (callbacks left out). */
  steps: number[];
}

const CALLBACK_FIELDS = ["on_success", "on_error"] as const;

/** Reads a POST /workflows body into the jobs to enqueue: 400 for anything malformed. */
export function planWorkflow(body: unknown): WorkflowPlan {
  const fields = readObject(body, "request body");
  rejectUnknownFields(fields, ["chain", "group", "retention", ...CALLBACK_FIELDS], "request body");
  const retention = readWorkflowRetention(fields.retention);
  const plan: WorkflowPlan = { inputs: [], shape: { job: -1 }, parents: [], steps: [] };
  if (fields.chain === undefined && fields.group === undefined) throw new BadRequestError("a workflow is a chain or a group: give one of them");
  const { retention: _retention, ...top } = fields;
  plan.shape = new Compiler(plan, retention).node(top, [], "request body").shape;
  return plan;
}

function readWorkflowRetention(value: unknown): Retention {
  if (value === undefined || value === null) return { completed_ms: DEFAULT_WORKFLOW_RETENTION_MS, dead_ms: DEFAULT_WORKFLOW_RETENTION_MS };
  const parsed = parseEnqueueInput({ queue: "q", type: "t", payload: null, retention: value }, "request body").retention;
  return { completed_ms: DEFAULT_WORKFLOW_RETENTION_MS, dead_ms: DEFAULT_WORKFLOW_RETENTION_MS, ...parsed };
}

class Compiler {
  constructor(
    private readonly plan: WorkflowPlan,
    private readonly retention: Retention,
  ) {}

  /** Compiles one step waiting for `after`; answers its shape and its exits. */
  node(value: unknown, after: number[], where: string): { shape: StepShape<number>; exits: number[] } {
    const fields = readObject(value, where);
    const kinds = (["chain", "group"] as const).filter((kind) => fields[kind] !== undefined);
    if (kinds.length > 1) throw new BadRequestError(`${where} has both chain and group; a step is one or the other`);
    const { on_success: onSuccess, on_error: onError, ...rest } = fields;
    const kind = kinds[0];
    const compiled = kind === undefined ? this.job(rest, after, where) : this.steps(kind, rest, after, where);
    const { shape, exits } = compiled;
    if (onSuccess != null) shape.on_success = this.callback(onSuccess, exits, `${where}.on_success`, false);
    if (onError != null) shape.on_error = this.callback(onError, exits, `${where}.on_error`, true);
    return compiled;
  }

  private steps(kind: "chain" | "group", fields: Record<string, unknown>, after: number[], stepWhere: string): { shape: StepShape<number>; exits: number[] } {
    rejectUnknownFields(fields, [kind], stepWhere);
    const list = fields[kind];
    const where = `${stepWhere}.${kind}`;
    if (!Array.isArray(list) || list.length === 0) throw new BadRequestError(`${where} must be a non-empty array of steps, got ${describe(list)}`);
    const shapes: Array<StepShape<number>> = [];
    let exits: number[] = [];
    let previous = after;
    list.forEach((step, index) => {
      const compiled = this.node(step, previous, `${where}[${index}]`);
      shapes.push(compiled.shape);
      if (kind === "chain") previous = exits = compiled.exits;
      else exits.push(...compiled.exits);
    });
    return { shape: kind === "chain" ? { chain: shapes } : { group: shapes }, exits };
  }

  private job(fields: Record<string, unknown>, after: number[], where: string): { shape: StepShape<number>; exits: number[] } {
    const position = this.add(fields, after, where, false);
    this.plan.steps.push(position);
    return { shape: { job: position }, exits: [position] };
  }

  private callback(value: unknown, exits: number[], where: string, onFailure: boolean): number {
    const fields = readObject(value, where);
    for (const field of ["chain", "group", ...CALLBACK_FIELDS]) {
      if (fields[field] !== undefined) throw new BadRequestError(`${where} is one job: ${field} is not allowed in it`);
    }
    return this.add(fields, exits, where, onFailure);
  }

  /** One job waiting for `after` (positions), besides any job ids the step names itself. */
  private add(fields: Record<string, unknown>, after: number[], where: string, onFailure: boolean): number {
    for (const field of ["correlation_id", "parent_job_id", "runs_on", "load_dependencies"]) {
      if (fields[field] !== undefined) throw new BadRequestError(`${where}.${field} is set by the workflow`);
    }
    if (after.length > MAX_EXITS) throw new BadRequestError(`${where} would wait for ${after.length} jobs; a job waits for at most ${MAX_EXITS}`);
    const input = parseEnqueueInput(fields, where);
    if (input.dependencies?.some((dependency) => typeof dependency === "number")) {
      throw new BadRequestError(`${where}.dependencies may name job ids only: positions have no meaning in a workflow`);
    }
    if (input.unique_key !== undefined || input.batch !== undefined) throw new BadRequestError(`${where}: a workflow's jobs take no unique_key or batch`);
    if (input.signature !== undefined) throw new BadRequestError(`${where}.signature: a workflow's jobs are not signed (the workflow gives them their ids and dependencies)`);
    const dependencies = [...after, ...(input.dependencies ?? [])];
    if (dependencies.length > 0) input.dependencies = dependencies;
    if (after.length > 0) input.load_dependencies = true;
    if (onFailure) input.runs_on = "failure";
    input.retention = { ...this.retention, ...input.retention };
    if (this.plan.inputs.length >= MAX_WORKFLOW_JOBS) throw new BadRequestError(`a workflow enqueues at most ${MAX_WORKFLOW_JOBS} jobs`);
    this.plan.inputs.push(input);
    this.plan.parents.push(after.length === 1 ? after[0] : undefined);
    return this.plan.inputs.length - 1;
  }
}

/** A workflow's stored document: its shape over job ids, its step jobs in step order, and the queues of its jobs. */
export interface WorkflowDocument {
  shape: StepShape<string>;
  steps: string[];
  /** Sorted; absent in workflows made before Wharf recorded them. */
  queues?: string[];
}

export function documentOf(plan: WorkflowPlan, ids: readonly string[]): WorkflowDocument {
  return {
    shape: mapShape(plan.shape, (position) => ids[position]!),
    steps: plan.steps.map((position) => ids[position]!),
    queues: [...new Set(plan.inputs.map((input) => input.queue))].sort(),
  };
}

function mapShape<A, B>(shape: StepShape<A>, map: (ref: A) => B): StepShape<B> {
  const mapped: StepShape<B> =
    "job" in shape ? { job: map(shape.job) } : "chain" in shape ? { chain: shape.chain.map((step) => mapShape(step, map)) } : { group: shape.group.map((step) => mapShape(step, map)) };
  if (shape.on_success !== undefined) mapped.on_success = map(shape.on_success);
  if (shape.on_error !== undefined) mapped.on_error = map(shape.on_error);
  return mapped;
}

/** Every job of a workflow: its steps, then its callbacks. */
export function jobIdsOf(document: WorkflowDocument): string[] {
  return [...document.steps, ...callbacksOf(document.shape).map(({ id }) => id)];
}

/** Every callback of a shape, outermost last. */
function callbacksOf(shape: StepShape<string>): Array<{ id: string; on: "success" | "error" }> {
  const inner = "job" in shape ? [] : ("chain" in shape ? shape.chain : shape.group).flatMap(callbacksOf);
  if (shape.on_success !== undefined) inner.push({ id: shape.on_success, on: "success" });
  if (shape.on_error !== undefined) inner.push({ id: shape.on_error, on: "error" });
  return inner;
}

export type WorkflowStatus = "running" | "completed" | "failed";

/**
 * A job of a workflow as GET /workflows/{id} shows it: `gone` once it is no longer stored (purged by its
 * retention, an on_error discarded because its step completed, or deleted).
 */
export interface WorkflowJobView {
  id: string;
  status: Job["status"] | "gone";
}

export interface WorkflowView {
  id: string;
  status: WorkflowStatus;
  created_at: number;
  /** The step jobs, in step order (callbacks left out). */
  jobs: string[];
  steps: WorkflowJobView[];
  callbacks: Array<WorkflowJobView & { on: "success" | "error" }>;
  /** The results of the step jobs that completed with one. */
  results: Record<string, JsonValue>;
  shape: StepShape<string>;
}

/**
 * failed once a step job is dead (or was deleted before it ended); completed once every step job has
 * completed or is gone (purged after it ended: a dead job is kept as long as a completed one by the
 * workflow's retention, so a failure still shows); running until then.
 */
export function workflowView(id: string, createdAt: number, document: WorkflowDocument, jobs: ReadonlyMap<string, Job>): WorkflowView {
  const viewOf = (jobId: string): WorkflowJobView => ({ id: jobId, status: jobs.get(jobId)?.status ?? "gone" });
  const steps = document.steps.map(viewOf);
  const results: Record<string, JsonValue> = {};
  for (const step of document.steps) {
    const result = jobs.get(step)?.result;
    if (result !== undefined) results[step] = result;
  }
  const ended = (status: WorkflowJobView["status"]): boolean => status === "completed" || status === "gone";
  const status: WorkflowStatus = steps.some((step) => step.status === "dead") ? "failed" : steps.every((step) => ended(step.status)) ? "completed" : "running";
  const callbacks = callbacksOf(document.shape).map(({ id: jobId, on }) => ({ ...viewOf(jobId), on }));
  return { id, status, created_at: createdAt, jobs: document.steps, steps, callbacks, results, shape: document.shape };
}
