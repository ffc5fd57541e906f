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
  const { filter, query } = selection;
  let after = start.after;
  let round = filter ? FIRST_FILTER_ROUND : start.rowsPerRound;
  for (;;) {
    const started = performance.now();
    const rows = await store.listJobs(query, { after, order: start.order, limit: round });
    if (filter) {
      const matches = await filter.matchAll(rows.map((job) => job.payload));
      yield rows.filter((_job, position) => matches[position]);
    } else {
      yield rows;
    }
    if (rows.length < round) return;
    after = rows[rows.length - 1]!.id;
    if (filter) round = nextRound(round, performance.now() - started);
  }
}

function nextRound(round: number, elapsedMs: number): number {
  if (elapsedMs < QUICK_ROUND_MS) return Math.min(round * 2, LARGEST_FILTER_ROUND);
  if (elapsedMs > SLOW_ROUND_MS) return Math.max(Math.floor(round / 2), FIRST_FILTER_ROUND);
  return round;
}
