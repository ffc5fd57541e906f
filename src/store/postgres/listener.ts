/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other work and lose the
 * subscription). A dropped connection is reopened with backoff, for as long as anyone listens.
 */
import type pg from "pg";

export interface ListenerOptions {
  /** A new, unconnected client; called again for every reconnect. */
  newClient: () => pg.Client;
  /** The LISTEN statement. */
  listen: string;
  channel: string;
  /** First reconnect delay; it doubles up to maxBackoffMs (default 100 ms and 5 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class Listener {
  private readonly listeners = new Set<() => void>();
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Connection attempts since the last one that succeeded (or since listening started). */
  private failures = 0;
  private ending: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: ListenerOptions) {}

  /**
   * Calls `listener` on every notification, and once each time listening (re)starts (notifications sent
   * while the connection was down are lost). Returns a function that unsubscribes.
   */
  subscribe(listener: () => void): () => void {
    if (this.closed) return () => {};
    const entry = (): void => listener();
    this.listeners.add(entry);
    if (this.listeners.size === 1) this.connect();
    return () => {
      if (this.listeners.delete(entry) && this.listeners.size === 0) this.stop();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.stop();
    await this.ending;
  }

  private get running(): boolean {
    return !this.closed && this.listeners.size > 0;
  }

  private connect(): void {
    this.retry = undefined;
    const client = this.options.newClient();
    this.client = client;
    const lost = (): void => this.lost(client);
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => {
      if (this.client === client && message.channel === this.options.channel) this.fire();
    });
    client.connect()
      .then(() => client.query(this.options.listen))
      .then(() => {
        if (this.client !== client) return;
        this.failures = 0;
        // Jobs may have become ready while we were not listening yet (at start) or any more (reconnecting).
        this.fire();
      }, lost);
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.end(client);
    if (!this.running) return;
    const { minBackoffMs = 100, maxBackoffMs = 5000 } = this.options;
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.failures++;
    this.retry = setTimeout(() => this.connect(), delay);
    // A reconnect that is only waiting does not keep the process alive; a live connection does.
    this.retry.unref();
  }

  private stop(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
    const client = this.client;
    this.client = undefined;
    this.failures = 0;
    if (client) this.end(client);
  }

  private end(client: pg.Client): void {
    const ended = client.end().catch(() => undefined);
    this.ending = Promise.all([this.ending, ended]).then(() => undefined);
  }

  /** A listener that throws must not keep the others from hearing, nor break the connection's event loop. */
  private fire(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // the listener's own failure; the notification is delivered to the rest regardless
      }
    }
  }
}
