/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other work and lose the
 * subscription). A dropped connection is reopened with backoff, for as long as anyone listens.
 */
import type pg from "pg";

export interface ListenerOptions {
  /** A new, unconnected client; called again for every reconnect. */
  newClient: () => pg.Client;
  /** Every channel the connection listens on, whoever subscribes. */
  channels: readonly string[];
  /** First reconnect delay; it doubles up to maxBackoffMs (default 100 ms and 5 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Gets each notification's payload, and undefined each time listening (re)starts: notifications sent meanwhile are lost. */
export type Subscriber = (payload: string | undefined) => void;

export class Listener {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Connection attempts since the last one that succeeded (or since listening started). */
  private failures = 0;
  private ending: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: ListenerOptions) {}

  /**
   * Calls `subscriber` on every notification on `channel`, and once each time listening (re)starts
   * (notifications sent while the connection was down are lost). Returns a function that unsubscribes.
   */
  subscribe(channel: string, subscriber: Subscriber): () => void {
    if (this.closed) return () => {};
    const entry: Subscriber = (payload) => subscriber(payload);
    const wasIdle = !this.running;
    const ofChannel = this.subscribers.get(channel) ?? new Set();
    ofChannel.add(entry);
    this.subscribers.set(channel, ofChannel);
    if (wasIdle) this.connect();
    return () => {
      if (ofChannel.delete(entry) && !this.running) this.stop();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    this.stop();
    await this.ending;
  }

  private get running(): boolean {
    return !this.closed && [...this.subscribers.values()].some((ofChannel) => ofChannel.size > 0);
  }

  private connect(): void {
    this.retry = undefined;
    const client = this.options.newClient();
    this.client = client;
    const lost = (): void => this.lost(client);
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => {
      if (this.client === client) this.fire(message.channel, message.payload);
    });
    client.connect()
      .then(() => client.query(this.options.channels.map((channel) => `LISTEN ${channel}`).join("; ")))
      .then(() => {
        if (this.client !== client) return;
        this.failures = 0;
        // Whatever was notified while we were not listening yet (at start) or any more (reconnecting) is lost.
        for (const channel of this.subscribers.keys()) this.fire(channel, undefined);
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

  /** A subscriber that throws must not keep the others from hearing, nor break the connection's event loop. */
  private fire(channel: string, payload: string | undefined): void {
    for (const subscriber of [...(this.subscribers.get(channel) ?? [])]) {
      try {
        subscriber(payload);
      } catch {
        // the listener's own failure; the notification is delivered to the rest regardless
      }
    }
  }
}
