/**
 * Calls made in one event-loop turn, merged: they wait for the end of the turn, go out in groups as
 * one run each (one statement, one request), and each call gets its own part of the answer. When a
 * merged run fails in a way one call could cause, each call of the group runs alone, so a bad call
 * fails only itself, as if the calls had never been merged. Nothing waits for a group to fill.
 */
export interface TurnBatcherOptions<C, R> {
  /** One run for several calls; answers per call, in order. */
  merged(calls: C[]): Promise<R[]>;
  /** One call by itself: a group of one, or each call of a failed group. */
  alone(call: C): Promise<R>;
  /** The turn's calls in consecutive groups, in order, each one merged run. */
  groups(calls: C[]): Iterable<C[]>;
  /** Whether the calls of a failed merged run are tried alone; otherwise they all get its error. */
  retryAlone(error: unknown): boolean;
}

interface Waiting<C, R> {
  call: C;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export class TurnBatcher<C, R> {
  private waiting: Array<Waiting<C, R>> = [];
  private scheduled = false;

  constructor(private readonly options: TurnBatcherOptions<C, R>) {}

  add(call: C): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ call, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    this.scheduled = false;
    let start = 0;
    for (const group of this.options.groups(waiting.map(({ call }) => call))) {
      void this.run(waiting.slice(start, start + group.length));
      start += group.length;
    }
  }

  private async run(group: Array<Waiting<C, R>>): Promise<void> {
    if (group.length === 1) return this.runAlone(group[0]!);
    let results: R[];
    try {
      results = await this.options.merged(group.map(({ call }) => call));
    } catch (error) {
      if (this.options.retryAlone(error)) await Promise.all(group.map((entry) => this.runAlone(entry)));
      else for (const { reject } of group) reject(error);
      return;
    }
    group.forEach(({ resolve }, position) => resolve(results[position]!));
  }

  private async runAlone({ call, resolve, reject }: Waiting<C, R>): Promise<void> {
    try {
      resolve(await this.options.alone(call));
    } catch (error) {
      reject(error);
    }
  }
}
