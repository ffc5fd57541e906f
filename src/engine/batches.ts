import { ConflictError, PayloadTooLargeError, UnprocessableError } from "../errors.js";
import { stringifyJson } from "../job/json.js";
import { foldInto, opensBatch, takesFolds } from "../job/state.js";
import type { BatchConfig, Job, JsonValue } from "../job/types.js";
import { unprocessable, validatePayload } from "../job/validate.js";
import type { BatchFold, BatchSession, InsertOutcome, QueueCaps, Store } from "../store/store.js";
import type { Coordination } from "./coordination/coordination.js";
import { BatchProgram } from "./jq/fold.js";
import { KeyedLock } from "./keyed-lock.js";
import type { EngineObserver } from "./observer.js";
import type { FilterBudget } from "./payload-filter.js";
import type { WritePath } from "./write-path.js";

/** An enqueue's outcome; `folded` when it folded into its batch's open job (which is `job`). */
export interface EnqueueOutcome extends InsertOutcome {
  folded?: boolean;
}

/** Times a round is planned afresh when a fold's job was taken meanwhile, before the caller gets 409. */
const ROUND_ATTEMPTS = 5;
/** Compiled configurations kept; a busy server has few. */
const PROGRAM_CACHE = 256;

/** A batch being planned: its open job (stored, or new in this enqueue) and the enqueues folded into it. */
interface PlannedBatch {
  job: Job;
  /** The position among the enqueued jobs, for a batch this enqueue opens. */
  position?: number;
  foldedFrom: number[];
}

interface Plan {
  jobs: Job[];
  folds: BatchFold[];
  opens: Array<{ key: string; id: string }>;
  /** Position of each folded enqueue, and the open job it folded into. */
  foldedInto: Map<number, Job>;
}

const configKey = ({ when, fold }: BatchConfig): string => JSON.stringify([when, fold]);

/** Positions of the jobs `groupOf` puts in a group, by group, in order; undefined leaves a job out. */
function positionsBy(jobs: readonly Job[], groupOf: (job: Job) => string | undefined): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  jobs.forEach((job, position) => {
    const group = groupOf(job);
    if (group === undefined) return;
    const positions = groups.get(group);
    if (positions) positions.push(position);
    else groups.set(group, [position]);
  });
  return groups;
}

/**
 * Batched enqueues (README "Batched jobs"): per key, one open job that later enqueues fold into. A
 * round holds its keys (in this process, and through the store's batch session in every other),
 * reads the open jobs, runs the expressions, and writes the folds, new batches and plain inserts of
 * the enqueue in one transaction, so a bulk stays all or nothing.
 */
export class Batches {
  private readonly lock = new KeyedLock();
  private readonly programs = new Map<string, Promise<BatchProgram>>();

  constructor(
    private readonly store: Store,
    private readonly writes: WritePath,
    private readonly coordination: Coordination,
    private readonly budget: FilterBudget,
    private readonly wake: () => void,
    private readonly observer: EngineObserver,
    /** What a fold may build (EngineOptions.maxFoldedPayloadBytes). */
    private readonly maxPayloadBytes: number,
  ) {}

  /** Enqueues jobs (some batched) as one atomic write; `where(i)` names job i in errors. */
  async enqueue(jobs: Job[], where: (position: number) => string, caps?: QueueCaps): Promise<EnqueueOutcome[]> {
    await this.dryRun(jobs, where);
    const byKey = positionsBy(jobs, (job) => (opensBatch(job) ? job.batch!.key : undefined));
    if (byKey.size === 0) return this.writes.insert(jobs, caps);
    const keys = [...byKey.keys()];
    return this.lock.run(keys, () => this.store.batchSession(keys, (session) => this.round(session, jobs, byKey, where, caps)));
  }

  private program(config: BatchConfig): Promise<BatchProgram> {
    const key = configKey(config);
    let program = this.programs.get(key);
    if (!program) {
      if (this.programs.size >= PROGRAM_CACHE) this.programs.clear();
      program = BatchProgram.compile(config, this.budget);
      program.catch(() => this.programs.delete(key));
      this.programs.set(key, program);
    }
    return program;
  }

  /** Each batched job's own expressions, compiled and run on its payload as both $existing and $new. */
  private async dryRun(jobs: Job[], where: (position: number) => string): Promise<void> {
    for (const positions of positionsBy(jobs, (job) => job.batch && configKey(job.batch)).values()) {
      const first = positions[0]!;
      const program = await blame(this.program(jobs[first]!.batch!), where(first));
      const failures = await blame(program.dryRun(positions.map((position) => stringifyJson(jobs[position]!.payload))), where(first));
      const failed = failures.findIndex((message) => message !== undefined);
      if (failed >= 0) throw new UnprocessableError(`${where(positions[failed]!)}.${failures[failed]!} (on its own payload)`);
    }
  }

  private async round(session: BatchSession, jobs: Job[], byKey: Map<string, number[]>, where: (position: number) => string, caps: QueueCaps | undefined): Promise<EnqueueOutcome[]> {
    for (let attempt = 0; attempt < ROUND_ATTEMPTS; attempt++) {
      const stored = await session.openJobs();
      const held = this.coordination.hold([...stored.values()].filter(takesFolds));
      try {
        const plan = await this.plan(jobs, byKey, new Map(held.map((job) => [job.batch!.key, job])), where);
        const inserted = await this.writes.writeBatch(session, {
          folds: plan.folds,
          opens: plan.opens,
          inserts: plan.jobs.filter((_job, position) => !plan.foldedInto.has(position)),
          caps,
        });
        if (inserted) return this.outcomes(plan, inserted);
      } finally {
        this.coordination.release(held);
        if (held.length > 0) this.wake();
      }
    }
    throw new ConflictError("the batch's open job kept being taken while this enqueue folded into it; try again");
  }

  /** Outcomes in input order: folded enqueues answer with their open job, the others as inserted. */
  private outcomes(plan: Plan, inserted: InsertOutcome[]): EnqueueOutcome[] {
    let next = 0;
    return plan.jobs.map((_job, position) => {
      const into = plan.foldedInto.get(position);
      if (!into) return inserted[next++]!;
      this.observer.folded?.(into);
      return { job: into, duplicate: false, folded: true };
    });
  }

  /** Folds each key's enqueues (`byKey`), in order, into its open job (`targets`), sealing and opening batches as `when` says. */
  private async plan(enqueued: Job[], byKey: Map<string, number[]>, targets: Map<string, Job>, where: (position: number) => string): Promise<Plan> {
    const plan: Plan = { jobs: [...enqueued], folds: [], opens: [], foldedInto: new Map() };
    for (const [key, positions] of byKey) {
      const stored = targets.get(key);
      let batch: PlannedBatch = stored ? { job: stored, foldedFrom: [] } : { job: enqueued[positions[0]!]!, position: positions[0]!, foldedFrom: [] };
      let rest = stored ? positions : positions.slice(1);
      while (rest.length > 0) {
        const program = await blame(this.program(batch.job.batch!), where(rest[0]!));
        const { steps, cur } = await blame(program.fold(stringifyJson(batch.job.payload), rest.map((position) => stringifyJson(enqueued[position]!.payload))), where(rest[0]!));
        let next = rest.length;
        for (let index = 0; index < steps.length && index < next; index++) {
          const step = steps[index]!;
          const position = rest[index]!;
          if (step.step === "error") throw new UnprocessableError(`${where(position)}.${step.message}`);
          if (step.step === "fold") batch.foldedFrom.push(position);
          if (step.step !== "seal") continue;
          this.finish(plan, batch, step.sealed, where);
          const config = batch.job.batch!;
          batch = { job: enqueued[position]!, position, foldedFrom: [] };
          // A new batch with other expressions folds what follows with them: the rest goes in another run.
          if (configKey(batch.job.batch!) !== configKey(config)) next = index + 1;
        }
        if (next === rest.length) this.finish(plan, batch, cur, where);
        rest = rest.slice(next);
      }
      if (batch.position !== undefined) plan.opens.push({ key, id: batch.job.id });
    }
    return plan;
  }

  /** A batch's last payload: written into its stored job as a fold, or given to the new job before it is inserted. */
  private finish(plan: Plan, batch: PlannedBatch, payload: JsonValue, where: (position: number) => string): void {
    if (batch.foldedFrom.length === 0) return;
    const field = `${where(batch.foldedFrom.at(-1)!)}.batch.fold's result`;
    validatePayload(payload, field, unprocessable);
    const text = stringifyJson(payload);
    const bytes = Buffer.byteLength(text);
    // Folds that only ever add would grow one job without end, and rewrite all of it at each enqueue.
    if (bytes > this.maxPayloadBytes) {
      throw new PayloadTooLargeError(`${field} is ${bytes} bytes of JSON; a folded payload is at most ${this.maxPayloadBytes}: seal the batch sooner (its when expression)`);
    }
    const job = foldInto(batch.job, payload);
    if (batch.position === undefined) plan.folds.push({ id: job.id, payload: text });
    else plan.jobs[batch.position] = job;
    for (const position of batch.foldedFrom) plan.foldedInto.set(position, job);
  }
}

/** A 422 from a batch's expressions, named after the enqueue it came from. */
async function blame<T>(work: Promise<T>, where: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof UnprocessableError) throw new UnprocessableError(`${where}.${error.message}`);
    throw error;
  }
}
