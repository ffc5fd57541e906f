/**
 * Which of the servers sharing a database are alive, so that the jobs a dead one had leased are given
 * back at once rather than when their lease runs out (300 s by default).
 *
 * A server is alive while it holds a session advisory lock keyed by its owner id (the `owner` its
 * claims record) on a connection of its own. The lock goes when the session does: the process exits
 * or is killed (the kernel closes its socket, PostgreSQL ends the session at once), or the network
 * drops it (the session's TCP keepalives, set short here, end it within seconds). A server takes the
 * lock before its first claim and claims only while it holds it.
 *
 * The checker (the leader) reads which owners of in-flight jobs hold no lock. A lock can also go while
 * its server lives (the connection broke and is being reopened; PostgreSQL restarted), so an owner
 * counts as gone only once it has been seen without its lock for a grace period, and not at all in
 * the first moments after PostgreSQL itself started, while every server is reconnecting. A server
 * whose connection stays down longer loses its leases: their jobs go to other workers, and its own
 * workers' late acks are refused (they are fenced by run id).
 */
import type pg from "pg";

/** First key of the two-part session advisory lock of a live server ("whlv"); the second is hashtext(owner). */
export const LIVENESS_LOCK = 0x77686c76;

export const LIVENESS_SQL = {
  /** Session-scoped and stacking: taken once per owner per connection. */
  hold: `SELECT pg_try_advisory_lock(${LIVENESS_LOCK}, hashtext($1::text)) AS locked`,
  /**
   * A dead peer (host gone, no FIN) is noticed by the server within idle + interval * count seconds, and
   * its session ends. Ignored on Unix sockets, where a dead process always closes the socket.
   */
  keepalives: "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3",
  ping: "SELECT 1",
  /**
   * Owners of in-flight jobs whose lock nobody holds in this database, and how long PostgreSQL has been
   * up (ms). Two-part advisory keys show in pg_locks as classid, objid and objsubid = 2.
   */
  unlockedOwners: `SELECT owners.owner, (extract(epoch FROM now() - pg_postmaster_start_time()) * 1000)::float8 AS uptime_ms
    FROM (SELECT DISTINCT owner FROM jobs WHERE status = 'in_flight' AND owner IS NOT NULL) AS owners
    WHERE NOT EXISTS (SELECT 1 FROM pg_locks AS held WHERE held.locktype = 'advisory' AND held.granted
      AND held.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND held.classid = ${LIVENESS_LOCK} AND held.objid = hashtext(owners.owner)::oid AND held.objsubid = 2)`,
} as const;

/** Sightings further apart than this do not add up to one absence. */
const SIGHTINGS_LAPSE_MS = 30_000;

export interface LivenessOptions {
  /** A new, unconnected client; called again for every reconnect. */
  newClient: () => pg.Client;
  /** Runs a read on the pool (the check needs no connection of its own). */
  read: <R extends Record<string, unknown>>(text: string, values?: unknown[]) => Promise<R[]>;
  /** How long an owner must be seen without its lock before it counts as gone (default 1000 ms). */
  graceMs?: number;
  /** After PostgreSQL starts, how long nobody counts as gone: every server is reconnecting (default 5 s). */
  restartGraceMs?: number;
  /** How often the held connection is checked (default 2 s). */
  pingIntervalMs?: number;
  /** Reconnect delays: they double from the first to the last (default 50 ms and 1 s); short, to be back within the grace. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class Liveness {
  /** Owners this process holds, for as long as it runs: their locks are taken again after every reconnect. */
  private readonly owners = new Set<string>();
  /** Owners locked on the current connection. */
  private readonly locked = new Set<string>();
  private client: pg.Client | undefined;
  /** The connection being opened (with every owner locked on it), or open; undefined while down. */
  private connection: Promise<pg.Client> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  /** Owners seen without their lock: since when, and when last. */
  private readonly suspects = new Map<string, { since: number; last: number }>();

  constructor(private readonly options: LivenessOptions) {}

  /**
   * Resolves once this process holds `owner`'s lock, so that leases recorded for it are not taken for a
   * dead server's; rejects when the database cannot be reached (claim nothing then).
   */
  async hold(owner: string): Promise<void> {
    if (this.closed) throw new Error("the store is closed");
    if (this.client !== undefined && this.locked.has(owner)) return;
    this.owners.add(owner);
    // Claims would only hammer a database that just dropped us; the reconnect under way takes the lock.
    if (this.retry !== undefined) throw new Error("the liveness connection to PostgreSQL is reconnecting");
    const client = await (this.connection ?? this.connect());
    if (!this.locked.has(owner)) await this.lock(client, owner);
  }

  /**
   * Owners of in-flight jobs that are gone as of `now` (the engine's clock): seen without their lock
   * for at least the grace period. Owners this process holds are alive whatever its connection does.
   */
  async goneOwners(now: number): Promise<string[]> {
    const { graceMs = 1000, restartGraceMs = 5000 } = this.options;
    const unlocked = (await this.options.read<{ owner: string; uptime_ms: number }>(LIVENESS_SQL.unlockedOwners))
      .filter(({ owner }) => !this.owners.has(owner));
    if (unlocked.some(({ uptime_ms: uptime }) => uptime < restartGraceMs)) {
      this.suspects.clear();
      return [];
    }
    const seen = new Set(unlocked.map(({ owner }) => owner));
    for (const owner of this.suspects.keys()) if (!seen.has(owner)) this.suspects.delete(owner);
    const gone: string[] = [];
    for (const owner of seen) {
      const earlier = this.suspects.get(owner);
      // A sighting long ago (checks paused while another server led) says nothing about the owner since.
      const since = earlier !== undefined && now - earlier.last <= SIGHTINGS_LAPSE_MS ? earlier.since : now;
      this.suspects.set(owner, { since, last: now });
      if (now - since >= graceMs) gone.push(owner);
    }
    return gone;
  }

  /** Ends the connection, which releases every lock: this process's servers are gone. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.ping);
    const client = this.client;
    this.client = undefined;
    this.connection = undefined;
    this.locked.clear();
    await client?.end().catch(() => undefined);
  }

  private connect(): Promise<pg.Client> {
    clearTimeout(this.retry);
    this.retry = undefined;
    const client = this.options.newClient();
    this.client = client;
    this.locked.clear();
    const lost = (): void => this.lost(client);
    client.on("error", lost);
    client.on("end", lost);
    const connection = (async () => {
      await client.connect();
      await client.query(LIVENESS_SQL.keepalives).catch(() => undefined);
      for (const owner of this.owners) await this.lock(client, owner);
      if (this.client !== client) throw new Error("the liveness connection was lost while opening");
      this.failures = 0;
      clearInterval(this.ping);
      this.ping = setInterval(() => {
        client.query(LIVENESS_SQL.ping).catch(lost);
      }, this.options.pingIntervalMs ?? 2000);
      this.ping.unref();
      return client;
    })();
    this.connection = connection;
    connection.catch(lost);
    return connection;
  }

  private async lock(client: pg.Client, owner: string): Promise<void> {
    // false only if another session holds the same key: a hash collision with a live server's owner. Its
    // lock keeps ours looking alive too, which is all the lock is for.
    await client.query(LIVENESS_SQL.hold, [owner]);
    if (this.client === client) this.locked.add(owner);
  }

  /** The connection broke: its locks are gone; take them again soon, for as long as this process holds owners. */
  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.connection = undefined;
    this.locked.clear();
    clearInterval(this.ping);
    client.end().catch(() => undefined);
    if (this.closed || this.owners.size === 0) return;
    const { minBackoffMs = 50, maxBackoffMs = 1000 } = this.options;
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.failures++;
    this.retry = setTimeout(() => {
      this.connect().catch(() => undefined);
    }, delay);
    this.retry.unref();
  }
}
