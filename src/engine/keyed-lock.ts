/** In-process mutual exclusion by key: `run` waits for every earlier holder of any of its keys. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const before = sorted.map((key) => this.tails.get(key));
    for (const key of sorted) this.tails.set(key, done);
    try {
      await Promise.all(before);
      return await work();
    } finally {
      release();
      for (const key of sorted) if (this.tails.get(key) === done) this.tails.delete(key);
    }
  }
}
