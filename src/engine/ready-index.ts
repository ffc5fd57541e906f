import sortedBtree from "sorted-btree";

// sorted-btree is CommonJS with `exports.default`; under Node's ESM loader the class is on `.default`.
const BTree = sortedBtree.default;
type BTree<K, V> = InstanceType<typeof BTree<K, V>>;
import type { ReadyEntry } from "../store/store.js";

const PRIORITY_DIGITS = 5;

/** Sort key: priority first (lower wins), then id, which is creation order. The id is the key's tail. */
function sortKey(entry: Pick<ReadyEntry, "id" | "priority">): string {
  return String(entry.priority).padStart(PRIORITY_DIGITS, "0") + entry.id;
}

/**
 * One queue's ready jobs twice over: all of them in take order (each key's value is its job's type),
 * and each type's on its own, so a stream that takes some types finds its next job without passing
 * over the jobs of types it does not take.
 */
interface QueueJobs {
  all: BTree<string, string>;
  byType: Map<string, BTree<string, undefined>>;
}

/**
 * The ready jobs of every queue, in take order, held in memory so a take
 * needs no query. Holds ids and types only; payloads stay in the store.
 */
export class ReadyIndex {
  private readonly queues = new Map<string, QueueJobs>();

  add(entry: ReadyEntry): void {
    let jobs = this.queues.get(entry.queue);
    if (!jobs) {
      jobs = { all: new BTree<string, string>(), byType: new Map() };
      this.queues.set(entry.queue, jobs);
    }
    let ofType = jobs.byType.get(entry.type);
    if (!ofType) {
      ofType = new BTree<string, undefined>();
      jobs.byType.set(entry.type, ofType);
    }
    const key = sortKey(entry);
    jobs.all.set(key, entry.type, false);
    ofType.set(key, undefined, false);
  }

  /** Needs no type: the queue's index knows each of its jobs' type. */
  remove(entry: Pick<ReadyEntry, "id" | "queue" | "priority">): void {
    const jobs = this.queues.get(entry.queue);
    if (jobs) this.removeKey(entry.queue, jobs, sortKey(entry));
  }

  /**
   * Removes and returns the next job to take from the given queues (all queues when `queues` is null)
   * of the given types (every type when `types` is null).
   */
  takeNext(queues: ReadonlySet<string> | null, types: ReadonlySet<string> | null): ReadyEntry | undefined {
    let bestQueue: string | undefined;
    let bestKey: string | undefined;
    for (const queue of queues ?? this.queues.keys()) {
      const key = this.firstKey(this.queues.get(queue), types);
      if (key !== undefined && (bestKey === undefined || key < bestKey)) {
        bestKey = key;
        bestQueue = queue;
      }
    }
    if (bestQueue === undefined || bestKey === undefined) return undefined;
    const type = this.removeKey(bestQueue, this.queues.get(bestQueue)!, bestKey)!;
    return { id: bestKey.slice(PRIORITY_DIGITS), queue: bestQueue, type, priority: Number.parseInt(bestKey.slice(0, PRIORITY_DIGITS), 10) };
  }

  private firstKey(jobs: QueueJobs | undefined, types: ReadonlySet<string> | null): string | undefined {
    if (!jobs || types === null) return jobs?.all.minKey();
    let first: string | undefined;
    for (const type of types) {
      const key = jobs.byType.get(type)?.minKey();
      if (key !== undefined && (first === undefined || key < first)) first = key;
    }
    return first;
  }

  /** The removed job's type; undefined when the key was not in the index. */
  private removeKey(queue: string, jobs: QueueJobs, key: string): string | undefined {
    const type = jobs.all.get(key);
    if (type === undefined) return undefined;
    jobs.all.delete(key);
    const ofType = jobs.byType.get(type)!;
    ofType.delete(key);
    if (ofType.size === 0) jobs.byType.delete(type);
    if (jobs.all.size === 0) this.queues.delete(queue);
    return type;
  }
}
