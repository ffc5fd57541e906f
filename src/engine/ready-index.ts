import sortedBtree from "sorted-btree";

// sorted-btree is CommonJS with `exports.default`; under Node's ESM loader the class is on `.default`.
const BTree = sortedBtree.default;
type BTree<K, V> = InstanceType<typeof BTree<K, V>>;
import { laneOf, UNKEYED_LANE } from "../job/queue-limits.js";
import type { ReadyEntry } from "../store/store.js";

const PRIORITY_DIGITS = 5;

type IndexedJob = Pick<ReadyEntry, "id" | "queue" | "type" | "priority" | "concurrency_key">;

/** Sort key: priority first (lower wins), then id, which is creation order. The id is the key's tail. */
function sortKey(entry: Pick<ReadyEntry, "id" | "priority">): string {
  return String(entry.priority).padStart(PRIORITY_DIGITS, "0") + entry.id;
}

/** The ready jobs of one type and one lane (a concurrency key) of a queue, in take order. */
interface Group {
  type: string;
  lane: string;
  jobs: BTree<string, undefined>;
}

/**
 * One queue's ready jobs, a tree per type and lane, so a take finds its next job without passing
 * over jobs of types it does not take or of lanes at their limit. `heads` holds each group's first
 * key: the queue's next job is the first head, one step away however many groups the queue has. A
 * take of some types looks at those types' groups only; one that passes over lanes walks the heads.
 */
interface QueueJobs {
  groups: Map<string, Group>;
  byType: Map<string, Set<Group>>;
  heads: BTree<string, Group>;
}

/**
 * Which of a queue's jobs a take may have: false none (paused, at a limit), true any, or a test of
 * each lane (the queue limits each key).
 */
export type QueueOpening = boolean | ((lane: string) => boolean);

function groupId(type: string, lane: string): string {
  return `${type}\u0000${lane}`;
}

/**
 * The ready jobs of every queue, in take order, held in memory so a take
 * needs no query. Holds ids only; payloads stay in the store.
 */
export class ReadyIndex {
  private readonly queues = new Map<string, QueueJobs>();

  add(entry: IndexedJob): void {
    let jobs = this.queues.get(entry.queue);
    if (!jobs) {
      jobs = { groups: new Map(), byType: new Map(), heads: new BTree<string, Group>() };
      this.queues.set(entry.queue, jobs);
    }
    const lane = laneOf(entry);
    const id = groupId(entry.type, lane);
    let group = jobs.groups.get(id);
    if (!group) {
      group = { type: entry.type, lane, jobs: new BTree<string, undefined>() };
      jobs.groups.set(id, group);
      const ofType = jobs.byType.get(entry.type);
      if (ofType) ofType.add(group);
      else jobs.byType.set(entry.type, new Set([group]));
    }
    const key = sortKey(entry);
    const head = group.jobs.minKey();
    if (!group.jobs.set(key, undefined, false) || (head !== undefined && head < key)) return;
    if (head !== undefined) jobs.heads.delete(head);
    jobs.heads.set(key, group);
  }

  has(entry: IndexedJob): boolean {
    return this.queues.get(entry.queue)?.groups.get(groupId(entry.type, laneOf(entry)))?.jobs.has(sortKey(entry)) === true;
  }

  remove(entry: IndexedJob): void {
    const jobs = this.queues.get(entry.queue);
    const group = jobs?.groups.get(groupId(entry.type, laneOf(entry)));
    if (group) this.removeKey(entry.queue, jobs!, group, sortKey(entry));
  }

  /**
   * Removes and returns the next job to take from the given queues (all queues when `queues` is null)
   * of the given types (every type when `types` is null), passing over what `opening` closes (paused
   * queues, queues and lanes at their limit).
   */
  takeNext(queues: ReadonlySet<string> | null, types: ReadonlySet<string> | null, opening?: (queue: string) => QueueOpening): ReadyEntry | undefined {
    let best: { queue: string; key: string; group: Group } | undefined;
    for (const queue of queues ?? this.queues.keys()) {
      const jobs = this.queues.get(queue);
      if (!jobs) continue;
      const open = opening ? opening(queue) : true;
      if (open === false) continue;
      const head = firstHead(jobs, types, open === true ? undefined : open);
      if (head && (best === undefined || head[0] < best.key)) best = { queue, key: head[0], group: head[1] };
    }
    if (!best) return undefined;
    const { queue, key, group } = best;
    this.removeKey(queue, this.queues.get(queue)!, group, key);
    return {
      id: key.slice(PRIORITY_DIGITS),
      queue,
      type: group.type,
      priority: Number.parseInt(key.slice(0, PRIORITY_DIGITS), 10),
      concurrency_key: group.lane === UNKEYED_LANE ? null : group.lane,
    };
  }

  private removeKey(queue: string, jobs: QueueJobs, group: Group, key: string): void {
    if (!group.jobs.delete(key)) return;
    if (!jobs.heads.delete(key)) return;
    const next = group.jobs.minKey();
    if (next !== undefined) {
      jobs.heads.set(next, group);
      return;
    }
    jobs.groups.delete(groupId(group.type, group.lane));
    const ofType = jobs.byType.get(group.type)!;
    ofType.delete(group);
    if (ofType.size === 0) jobs.byType.delete(group.type);
    if (jobs.groups.size === 0) this.queues.delete(queue);
  }
}

/** The first [key, group] among a queue's heads of the given types (every type when null) and open lanes. */
function firstHead(jobs: QueueJobs, types: ReadonlySet<string> | null, laneOpen: ((lane: string) => boolean) | undefined): [string, Group] | undefined {
  let found: [string, Group] | undefined;
  if (types !== null) {
    for (const type of types) {
      for (const group of jobs.byType.get(type) ?? []) {
        const key = group.jobs.minKey()!;
        if ((found === undefined || key < found[0]) && (laneOpen === undefined || laneOpen(group.lane))) found = [key, group];
      }
    }
    return found;
  }
  if (laneOpen === undefined) return jobs.heads.nextHigherPair(undefined);
  jobs.heads.forEachPair((key, group) => {
    if (!laneOpen(group.lane)) return undefined;
    found = [key, group];
    return { break: true };
  });
  return found;
}
