/**
 * The limits a queue puts on the jobs it hands out (README "Queue controls"): how many in flight at
 * once, in all and per key, and how many started per interval. Pure: the claims (src/engine/coordination
 * for a process alone, the stores' claimLimited for a shared store) count what is in flight and what
 * started, and ask here how many more may start.
 */

/** At most `limit` jobs of one key in flight at once; `key` (jq over the payload) gives jobs without their own a key. */
export interface ConcurrencyKeyLimit {
  limit: number;
  key?: string;
}

/** At most `limit` jobs started in any `interval_ms`: per key when `key` is given, else for the whole queue. */
export interface RateLimit {
  limit: number;
  interval_ms: number;
  key?: string;
}

/** The settings these limits read (a queue's settings have more). */
export interface ClaimLimits {
  max_in_flight?: number;
  concurrency_key?: ConcurrencyKeyLimit;
  rate_limit?: RateLimit;
}

/** Jobs with no key share this lane: a per-key limit counts them as one key. */
export const UNKEYED_LANE = "";

/**
 * When jobs started, oldest first, as [at, how many]: a claim starts many jobs at one instant, so the
 * log holds a pair per claim, not an entry per job. Only the starts within the interval are kept.
 */
export type RateLog = ReadonlyArray<readonly [at: number, count: number]>;

/** The earlier of two times a limit opens again, either of which may be none. */
export function earliest(at: number | undefined, other: number | undefined): number | undefined {
  return at === undefined ? other : other === undefined ? at : Math.min(at, other);
}

export function hasClaimLimits(limits: ClaimLimits): boolean {
  return limits.max_in_flight !== undefined || limits.concurrency_key !== undefined || limits.rate_limit !== undefined;
}

/** The jq expression that keys the queue's jobs that have no concurrency_key of their own. */
export function keyExpression(limits: ClaimLimits): string | undefined {
  return limits.concurrency_key?.key ?? limits.rate_limit?.key;
}

/** Whether the queue limits each key on its own (so claims must count per lane). */
export function limitsPerKey(limits: ClaimLimits): boolean {
  return limits.concurrency_key !== undefined || limits.rate_limit?.key !== undefined;
}

export function laneOf(job: { concurrency_key?: string | null | undefined }): string {
  return job.concurrency_key ?? UNKEYED_LANE;
}

/** The rate log a job of `lane` starts in: its lane's when the rate is per key, the queue's one otherwise. */
export function rateLane(rate: RateLimit, lane: string): string {
  return rate.key === undefined ? UNKEYED_LANE : lane;
}

function recent(log: RateLog, rate: RateLimit, now: number): RateLog {
  const since = now - rate.interval_ms;
  const first = log.findIndex(([at]) => at > since);
  return first === -1 ? [] : first === 0 ? log : log.slice(first);
}

/** How many more may start at `now`. */
export function rateRoom(rate: RateLimit, log: RateLog | undefined, now: number): number {
  if (!log) return rate.limit;
  let started = 0;
  for (const [, count] of recent(log, rate, now)) started += count;
  return Math.max(0, rate.limit - started);
}

/** When the next start is allowed, for a log with no room at `now`: once enough of its starts leave the interval. */
export function rateOpensAt(rate: RateLimit, log: RateLog, now: number): number {
  const kept = recent(log, rate, now);
  let started = kept.reduce((sum, [, count]) => sum + count, 0);
  for (const [at, count] of kept) {
    started -= count;
    if (started < rate.limit) return at + rate.interval_ms;
  }
  return now;
}

/** The log after `count` more starts at `now`, without the starts that have left the interval. */
export function withStarts(rate: RateLimit, log: RateLog | undefined, now: number, count: number): RateLog {
  const kept = log ? recent(log, rate, now) : [];
  if (count === 0) return kept;
  const last = kept[kept.length - 1];
  if (last?.[0] === now) return [...kept.slice(0, -1), [now, last[1] + count]];
  return [...kept, [now, count]];
}

/** What a queue's jobs use of its limits: jobs in flight, in all and per lane, and the rate logs by rate lane. */
export interface LimitUse {
  inFlight: number;
  inFlightByLane: ReadonlyMap<string, number>;
  rateLogs: ReadonlyMap<string, RateLog>;
}

/** How many jobs a claim may start: in all, and of each lane (`lanes`, with `otherLanes` for a lane not named). */
export interface QueueRoom {
  total: number;
  lanes: ReadonlyMap<string, number>;
  otherLanes: number;
  /** When a rate that leaves no room now opens again: a claim should try then. */
  opensAt?: number;
}

export function queueRoom(limits: ClaimLimits, use: LimitUse, now: number): QueueRoom {
  const { max_in_flight: maxInFlight, concurrency_key: perKey, rate_limit: rate } = limits;
  let total = maxInFlight === undefined ? Number.POSITIVE_INFINITY : Math.max(0, maxInFlight - use.inFlight);
  let opensAt: number | undefined;
  const noteClosed = (log: RateLog): void => {
    const at = rateOpensAt(rate!, log, now);
    opensAt = earliest(opensAt, at);
  };
  if (rate && rate.key === undefined) {
    const log = use.rateLogs.get(UNKEYED_LANE);
    const room = rateRoom(rate, log, now);
    if (room === 0 && log) noteClosed(log);
    total = Math.min(total, room);
  }
  const perLaneRate = rate?.key === undefined ? undefined : rate;
  const laneRoom = (lane: string): number => {
    let room = perKey ? Math.max(0, perKey.limit - (use.inFlightByLane.get(lane) ?? 0)) : Number.POSITIVE_INFINITY;
    if (perLaneRate) {
      const log = use.rateLogs.get(lane);
      const rateLeft = rateRoom(perLaneRate, log, now);
      if (rateLeft === 0 && log) noteClosed(log);
      room = Math.min(room, rateLeft);
    }
    return room;
  };
  const lanes = new Map<string, number>();
  if (limitsPerKey(limits)) {
    for (const lane of new Set([...use.inFlightByLane.keys(), ...(perLaneRate ? use.rateLogs.keys() : [])])) lanes.set(lane, laneRoom(lane));
  }
  const otherLanes = Math.min(perKey?.limit ?? Number.POSITIVE_INFINITY, perLaneRate?.limit ?? Number.POSITIVE_INFINITY);
  return opensAt === undefined ? { total, lanes, otherLanes } : { total, lanes, otherLanes, opensAt };
}

/**
 * The rate logs after a claim started `started` at `now`: every log read (`logs`) or written, by rate
 * lane; an empty one has nothing left within the interval and can go.
 */
export function logsAfterClaim(rate: RateLimit, logs: ReadonlyMap<string, RateLog>, started: ReadonlyArray<{ concurrency_key?: string | undefined }>, now: number): Map<string, RateLog> {
  const counts = new Map<string, number>();
  for (const job of started) {
    const lane = rateLane(rate, laneOf(job));
    counts.set(lane, (counts.get(lane) ?? 0) + 1);
  }
  const next = new Map<string, RateLog>();
  for (const lane of new Set([...logs.keys(), ...counts.keys()])) next.set(lane, withStarts(rate, logs.get(lane), now, counts.get(lane) ?? 0));
  return next;
}
