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
 * One queue's ready jobs, a tree per type, so a stream that takes some types finds its next job
 * without passing over jobs of types it does not take. `heads` holds each type's first key (its
 * value is the type): the queue's next job of any type is the first of the heads, one step away
 * however many types the queue has.
 */
interface QueueJobs {
  byType: Map<string, BTree<string, undefined>>;
  heads: BTree<string, string>;
}

/**
 * The ready jobs of every queue, in take order, held in memory so a take
 * needs no query. Holds ids only; payloads stay in the store.
 */
export class ReadyIndex {
  private readonly queues = new Map<string, QueueJobs>();

  add(entry: ReadyEntry): void {
    let jobs = this.queues.get(entry.queue);
    if (!jobs) {
      jobs = { byType: new Map(), heads: new BTree<string, string>() };
      this.queues.set(entry.queue, jobs);
    }
    let ofType = jobs.byType.get(entry.type);
    if (!ofType) {
      ofType = new BTree<string, undefined>();
      jobs.byType.set(entry.type, ofType);
    }
    const key = sortKey(entry);
    const head = ofType.minKey();
    if (!ofType.set(key, undefined, false) || (head !== undefined && head < key)) return;
    if (head !== undefined) jobs.heads.delete(head);
    jobs.heads.set(key, entry.type);
  }

  has(entry: Pick<ReadyEntry, "id" | "queue" | "type" | "priority">): boolean {
    return this.queues.get(entry.queue)?.byType.get(entry.type)?.has(sortKey(entry)) === true;
  }

  remove(entry: Pick<ReadyEntry, "id" | "queue" | "type" | "priority">): void {
    const jobs = this.queues.get(entry.queue);
    if (jobs) this.removeKey(entry.queue, jobs, entry.type, sortKey(entry));
  }

  /**
   * Removes and returns the next job to take from the given queues (all queues when `queues` is null)
   * of the given types (every type when `types` is null), passing over the queues `takeable` refuses
   * (paused, or at their limit).
   */
  takeNext(queues: ReadonlySet<string> | null, types: ReadonlySet<string> | null, takeable?: (queue: string) => boolean): ReadyEntry | undefined {
    let best: { queue: string; type: string; key: string } | undefined;
    for (const queue of queues ?? this.queues.keys()) {
      if (takeable && !takeable(queue)) continue;
      const head = firstHead(this.queues.get(queue), types);
      if (head && (best === undefined || head[0] < best.key)) best = { queue, type: head[1], key: head[0] };
    }
    if (!best) return undefined;
    this.removeKey(best.queue, this.queues.get(best.queue)!, best.type, best.key);
    return { id: best.key.slice(PRIORITY_DIGITS), queue: best.queue, type: best.type, priority: Number.parseInt(best.key.slice(0, PRIORITY_DIGITS), 10) };
  }

  private removeKey(queue: string, jobs: QueueJobs, type: string, key: string): void {
    const ofType = jobs.byType.get(type);
    if (!ofType?.delete(key)) return;
    if (!jobs.heads.delete(key)) return;
    const next = ofType.minKey();
    if (next !== undefined) {
      jobs.heads.set(next, type);
      return;
    }
    jobs.byType.delete(type);
    if (jobs.byType.size === 0) this.queues.delete(queue);
  }
}

/** The first [key, type] among a queue's heads of the given types (of every type when `types` is null). */
function firstHead(jobs: QueueJobs | undefined, types: ReadonlySet<string> | null): [string, string] | undefined {
  if (!jobs) return undefined;
  if (types === null) return jobs.heads.nextHigherPair(undefined);
  let first: [string, string] | undefined;
  for (const type of types) {
    const key = jobs.byType.get(type)?.minKey();
    if (key !== undefined && (first === undefined || key < first[0])) first = [key, type];
  }
  return first;
}
