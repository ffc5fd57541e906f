import type { Job } from "../job/types.js";
import type { JobQuery, SortOrder, Store } from "../store/store.js";
import type { PayloadFilter } from "./payload-filter.js";

/** Which jobs a request means: what the store can select itself, and a jq filter over payloads. */
export interface JobSelection {
  query: JobQuery;
  filter?: PayloadFilter;
}

/** Rows a filtered scan reads per round at first, and at most: a jq run has a fixed cost (compiling jq's builtins), so rounds grow while they are quick. */
const FIRST_FILTER_ROUND = 200;
const LARGEST_FILTER_ROUND = 5000;
/** A round quicker than this doubles the next one; slower than SLOW_ROUND_MS (big payloads) halves it. */
const QUICK_ROUND_MS = 40;
const SLOW_ROUND_MS = 150;

export interface ScanStart {
  after?: string;
  order: SortOrder;
  /** Rows read per round when there is no filter (then every row matches). */
  rowsPerRound: number;
}

/**
 * The jobs that match a selection, a round at a time, in id order from a cursor: the store's own
 * conditions in its query, the jq filter (when there is one) over each round's payloads. Ends after
 * the round that reaches the last row.
 */
export async function* scanMatching(store: Store, selection: JobSelection, start: ScanStart): AsyncGenerator<Job[]> {
  if (!selection.filter) {
    yield* scanAll(store, selection.query, start);
    return;
  }
  for await (const ids of scanMatchingIds(store, selection.query, selection.filter, start)) {
    // Read again under the query's conditions: a job may have changed (been claimed, say) since its payload was read.
    if (ids.length > 0) yield await store.listJobs({ ...selection.query, ids }, { order: start.order, limit: ids.length });
  }
}

/** How many jobs a selection with a filter matches: the payloads are all that is read. */
export async function countMatching(store: Store, query: JobQuery, filter: PayloadFilter): Promise<number> {
  let count = 0;
  for await (const ids of scanMatchingIds(store, query, filter, { order: "asc" })) count += ids.length;
  return count;
}

async function* scanAll(store: Store, query: JobQuery, start: ScanStart): AsyncGenerator<Job[]> {
  let after = start.after;
  for (;;) {
    const rows = await store.listJobs(query, { order: start.order, limit: start.rowsPerRound, ...(after === undefined ? {} : { after }) });
    yield rows;
    if (rows.length < start.rowsPerRound) return;
    after = rows[rows.length - 1]!.id;
  }
}

/**
 * The ids of the jobs whose payload the filter matches, a round at a time: jq is given the payload
 * text as stored, with nothing parsed or serialized on the way.
 */
async function* scanMatchingIds(store: Store, query: JobQuery, filter: PayloadFilter, start: Pick<ScanStart, "after" | "order">): AsyncGenerator<string[]> {
  let after = start.after;
  let round = FIRST_FILTER_ROUND;
  for (;;) {
    const started = performance.now();
    const rows = await store.listPayloads(query, { order: start.order, limit: round, ...(after === undefined ? {} : { after }) });
    const matches = await filter.matchTexts(rows.map(({ payload }) => payload));
    yield rows.filter((_row, position) => matches[position]).map(({ id }) => id);
    if (rows.length < round) return;
    after = rows[rows.length - 1]!.id;
    round = nextRound(round, performance.now() - started);
  }
}

function nextRound(round: number, elapsedMs: number): number {
  if (elapsedMs < QUICK_ROUND_MS) return Math.min(round * 2, LARGEST_FILTER_ROUND);
  if (elapsedMs > SLOW_ROUND_MS) return Math.max(Math.floor(round / 2), FIRST_FILTER_ROUND);
  return round;
}
