import sortedBtree from "sorted-btree";

// sorted-btree is CommonJS with `exports.default`; under Node's ESM loader the class is on `.default`.
const BTree = sortedBtree.default;
type BTree<K, V> = InstanceType<typeof BTree<K, V>>;
import type { ReadyEntry } from "../store/store.js";

const PRIORITY_DIGITS = 5;

/** Sort key: priority first (lower wins), then id, which is creation order. The id is the key's tail, so no value is stored. */
function sortKey(entry: Pick<ReadyEntry, "id" | "priority">): string {
  return String(entry.priority).padStart(PRIORITY_DIGITS, "0") + entry.id;
}

/**
 * The ready jobs of every queue, in take order, held in memory so a take
 * needs no query. Holds ids only; payloads stay in the store.
 */
export class ReadyIndex {
  private readonly queues = new Map<string, BTree<string, undefined>>();

  add(entry: ReadyEntry): void {
    let tree = this.queues.get(entry.queue);
    if (!tree) {
      tree = new BTree<string, undefined>();
      this.queues.set(entry.queue, tree);
    }
    tree.set(sortKey(entry), undefined, false);
  }

  remove(entry: ReadyEntry): void {
    const tree = this.queues.get(entry.queue);
    if (!tree || !tree.delete(sortKey(entry))) return;
    if (tree.size === 0) this.queues.delete(entry.queue);
  }

  /** Removes and returns the next job to take from the given queues (all queues when `queues` is null). */
  takeNext(queues: ReadonlySet<string> | null): ReadyEntry | undefined {
    let bestQueue: string | undefined;
    let bestKey: string | undefined;
    const candidates = queues ?? this.queues.keys();
    for (const queue of candidates) {
      const key = this.queues.get(queue)?.minKey();
      if (key !== undefined && (bestKey === undefined || key < bestKey)) {
        bestKey = key;
        bestQueue = queue;
      }
    }
    if (bestQueue === undefined || bestKey === undefined) return undefined;
    const tree = this.queues.get(bestQueue)!;
    tree.delete(bestKey);
    if (tree.size === 0) this.queues.delete(bestQueue);
    return { id: bestKey.slice(PRIORITY_DIGITS), queue: bestQueue, priority: Number.parseInt(bestKey.slice(0, PRIORITY_DIGITS), 10) };
  }
}
