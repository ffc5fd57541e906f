/**
 * Events across the servers of a shared store: each server sends the events it makes to the others
 * (batched per event-loop turn, in messages the store's notifications can carry) while any of them
 * watches, and says so while it watches itself, so that servers nobody watches send nothing.
 */
import type { Logger } from "../../log.js";
import type { Notifier } from "../../store/sharing.js";
import type { Clock } from "../clock.js";
import type { EventLog, EventOutlet, WharfEvent } from "../events.js";
import { logFailure } from "../log.js";
import { parseJson, stringifyJson } from "../../job/json.js";

/**
 * Most characters of one message: PostgreSQL's notification payloads hold under 8000 bytes. Events go
 * as Wharf's JSON (a progress may hold integers past 2^53, which JSON.stringify refuses).
 */
const MESSAGE_CHARS = 7000;

interface Message {
  from: string;
  watching?: true;
  events?: WharfEvent[];
}

export class SharedEvents implements EventOutlet {
  private othersUntil = Number.NEGATIVE_INFINITY;
  private pending: WharfEvent[] = [];
  private flushScheduled = false;

  constructor(
    private readonly notifier: Pick<Notifier, "announceEvents">,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly server: string,
    private readonly keepMs: number,
  ) {}

  get othersWatch(): boolean {
    return this.clock.now() < this.othersUntil;
  }

  send(events: WharfEvent[]): void {
    if (!this.othersWatch) return;
    for (const event of events) this.pending.push(event);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  watching(): void {
    this.announce([JSON.stringify({ from: this.server, watching: true } satisfies Message)]);
  }

  /** A message from the store's notifications; undefined when some may have been missed (nothing to replay: they are lost). */
  received(text: string | undefined, log: EventLog): void {
    if (text === undefined) return;
    let message: Message;
    try {
      message = parseJson(text) as Message;
    } catch {
      return;
    }
    if (message.from === this.server) return;
    if (message.watching) this.othersUntil = this.clock.now() + this.keepMs;
    if (message.events) log.receive(message.events);
  }

  private flush(): void {
    this.flushScheduled = false;
    const events = this.pending;
    this.pending = [];
    const messages: string[] = [];
    let batch: string[] = [];
    let chars = 0;
    const close = (): void => {
      if (batch.length > 0) messages.push(`{"from":${JSON.stringify(this.server)},"events":[${batch.join(",")}]}`);
      batch = [];
      chars = 0;
    };
    for (const event of events) {
      const text = stringifyJson(event);
      if (text.length > MESSAGE_CHARS) continue;
      if (chars + text.length > MESSAGE_CHARS) close();
      batch.push(text);
      chars += text.length + 1;
    }
    close();
    this.announce(messages);
  }

  private announce(messages: string[]): void {
    if (messages.length === 0) return;
    void this.notifier.announceEvents(messages).catch((error: unknown) => logFailure(this.logger, "sending events to the other servers", error));
  }
}
