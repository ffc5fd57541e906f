import type { StepShape, WorkflowStatus, WorkflowView } from "../engine/workflows.js";
import type { Retention } from "../job/types.js";
import type { AnyJobs, EnqueueInput } from "./jobs.js";
import type { QueryValue } from "./transport.js";

type Call = <T>(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown) => Promise<T>;

/** A job of a workflow: an enqueue body, minus what the workflow sets (its correlation and dependencies' handling). */
export type WorkflowJob<Jobs = AnyJobs> = Omit<EnqueueInput<Jobs>, "correlation_id" | "parent_job_id" | "runs_on" | "load_dependencies">;

interface Callbacks<Jobs> {
  /** Runs once the step has completed, with the results of its last jobs. */
  on_success?: WorkflowJob<Jobs>;
  /** Runs once if any job of the step dies; discarded when the step completes. */
  on_error?: WorkflowJob<Jobs>;
}

/** A step: one job, or a chain (each after the one before, with its results) or group (in parallel) of steps. */
export type WorkflowStep<Jobs = AnyJobs> = (WorkflowJob<Jobs> | { chain: Array<WorkflowStep<Jobs>> } | { group: Array<WorkflowStep<Jobs>> }) & Callbacks<Jobs>;

export type WorkflowDefinition<Jobs = AnyJobs> = ({ chain: Array<WorkflowStep<Jobs>> } | { group: Array<WorkflowStep<Jobs>> }) &
  Callbacks<Jobs> & {
    /** Kept for the workflow's jobs that give none; a day for completed and dead jobs by default. */
    retention?: Retention;
  };

export type { StepShape, WorkflowStatus, WorkflowView };

/** Workflows (`client.workflows`): chains and groups of jobs, built on dependencies. */
export class WorkflowClient<Jobs extends object = AnyJobs> {
  constructor(private readonly call: Call) {}

  /** Enqueues every job of the workflow in one transaction; answers its id and its step jobs' ids in step order. */
  create(definition: WorkflowDefinition<Jobs>): Promise<{ id: string; status: WorkflowStatus; jobs: string[] }> {
    return this.call("POST", "/workflows", undefined, definition);
  }

  get(id: string): Promise<WorkflowView> {
    return this.call("GET", `/workflows/${encodeURIComponent(id)}`);
  }

  /** Deletes the workflow's unfinished jobs and the workflow; answers how many jobs went. */
  async delete(id: string): Promise<number> {
    return (await this.call<{ deleted: number }>("DELETE", `/workflows/${encodeURIComponent(id)}`)).deleted;
  }
}
