/**
 * Leader election among the servers sharing a database: the leader is whoever holds a session
 * advisory lock on its own dedicated connection. The lock goes when that connection does, whether
 * the server closes it, crashes, or loses the network; so leadership is only as good as the connection.
 */
import type pg from "pg";

export interface LeadershipOptions {
  /** A new, unconnected client; called again after a connection is lost. */
  newClient: () => pg.Client;
  /** Returns one row `{ locked: boolean }`: whether the session now holds the lock. */
  tryLock: string;
  /** A cheap statement whose success shows the session is alive. */
  ping: string;
}

export class Leadership {
  private client: pg.Client | undefined;
  private leading = false;
  /** Leadership went with a broken connection, noticed between calls: the next call reports it. */
  private lostLeadership = false;
  private pending: Promise<boolean> | undefined;
  private closed = false;

  constructor(private readonly options: LeadershipOptions) {}

  /**
   * True while this process holds the lock: already held on a connection that still answers, or
   * just acquired. When the leader's connection breaks, the next call says false (leadership is
   * lost) and a later call opens a new connection and competes again. Never throws: a database it
   * cannot reach means "not leading".
   */
  lead(): Promise<boolean> {
    this.pending ??= this.attempt().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Ends the connection, which releases the lock. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.leading = false;
    await client?.end().catch(() => undefined);
  }

  private async attempt(): Promise<boolean> {
    if (this.closed) return false;
    if (this.lostLeadership) {
      this.lostLeadership = false;
      return false;
    }
    const client = this.client ?? (await this.connect());
    if (!client) return false;
    try {
      if (this.leading) {
        await client.query(this.options.ping);
      } else {
        const [row] = (await client.query<{ locked: boolean }>(this.options.tryLock)).rows;
        this.leading = row?.locked === true;
      }
    } catch {
      this.drop(client);
      this.lostLeadership = false; // this call is the one that reports it
      return false;
    }
    return this.client === client && this.leading;
  }

  private async connect(): Promise<pg.Client | undefined> {
    const client = this.options.newClient();
    this.client = client;
    this.leading = false;
    const drop = (): void => this.drop(client);
    client.on("error", drop);
    client.on("end", drop);
    try {
      await client.connect();
    } catch {
      drop();
      return undefined;
    }
    return this.client === client ? client : undefined;
  }

  private drop(client: pg.Client): void {
    if (this.client === client) {
      this.client = undefined;
      this.lostLeadership ||= this.leading;
      this.leading = false;
    }
    client.end().catch(() => undefined);
  }
}
