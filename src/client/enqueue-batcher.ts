/**
 * Coalesces the single enqueues a program makes in one event-loop turn into one bulk request. Fifty
 * callers each awaiting `enqueue()` cost the server fifty requests (each parsed, committed and
 * answered on its own); sent as one `POST /jobs/bulk` they cost one, and each caller still gets its
 * own job back once the bulk has committed. Nothing waits for a batch to fill: a call made alone is
 * sent as a plain `POST /jobs` in the next turn.
 */
import { WharfError } from "../errors.js";
import { chunks } from "../slices.js";

interface Waiting<I, O> {
  job: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/** Jobs per bulk request, at most; more calls in one turn become several bulks. */
const MAX_BATCH = 1000;

/** Answers that mean a bulk, which is all or nothing, enqueued nothing because of what was sent. */
const REFUSED = new Set([400, 413, 422]);

export class EnqueueBatcher<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private scheduled = false;

  constructor(
    private readonly one: (job: I) => Promise<O>,
    private readonly many: (jobs: I[]) => Promise<O[]>,
  ) {}

  enqueue(job: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = [];
    for (const slice of chunks(batch, MAX_BATCH)) void this.send(slice);
  }

  private async send(slice: Array<Waiting<I, O>>): Promise<void> {
    if (slice.length === 1) return this.sendAlone(slice[0]!);
    let answers: O[];
    try {
      answers = await this.many(slice.map(({ job }) => job));
    } catch (error) {
      // One bad job refuses the whole bulk: each job alone gets the answer it would have had.
      if (error instanceof WharfError && REFUSED.has(error.status)) await Promise.all(slice.map((waiting) => this.sendAlone(waiting)));
      else for (const { reject } of slice) reject(error);
      return;
    }
    slice.forEach(({ resolve }, position) => resolve(answers[position]!));
  }

  private async sendAlone({ job, resolve, reject }: Waiting<I, O>): Promise<void> {
    try {
      resolve(await this.one(job));
    } catch (error) {
      reject(error);
    }
  }
}
