/**
 * Job lifecycle events (GET /events): one versioned schema, a bounded window of recent events for
 * clients that resume with a cursor, and the watchers they go to. Events are made only while they
 * are wanted (someone watches here or, on a shared store, on another server, or stopped watching
 * less than a window's keep time ago), so a server nobody watches pays one check per event.
 */
import { newJobId } from "../job/ids.js";
import { CANCELLED } from "../job/state.js";
import type { Job, JobError, JsonValue } from "../job/types.js";
import type { DeletedJob } from "../store/store.js";
import type { Clock } from "./clock.js";
import type { EngineObserver } from "./observer.js";

export const EVENT_SCHEMA = "wharf.event.v1";

export const EVENT_KINDS = [
  "job.enqueued", "job.folded", "job.taken", "job.progress", "job.completed", "job.failed", "job.retried", "job.dead",
  "job.cancelled", "job.deleted", "job.unblocked", "cron.fired", "queue.paused", "queue.resumed", "leader.elected",
  "events.missed",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export function isEventKind(kind: string): kind is EventKind {
  return (EVENT_KINDS as readonly string[]).includes(kind);
}

/** The job an event is about, as it was then. */
export interface EventJob {
  id: string;
  queue: string;
  type: string;
  status: string;
  attempts: number;
}

export interface WharfEvent {
  schema: typeof EVENT_SCHEMA;
  /** Unique and time-ordered (SCRU128): the cursor a client resumes after (Last-Event-ID). */
  id: string;
  kind: EventKind;
  /** Ms since the epoch, by the clock of the server it happened on. */
  time: number;
  /** The server it happened on. */
  server: string;
  job?: EventJob;
  /** The queue it concerns: the job's, or a paused or resumed queue's. */
  queue?: string;
  /** job.failed, job.retried, job.cancelled: the attempt's error. */
  error?: { message: string; error_type?: string };
  /** job.progress: what the heartbeat said. */
  progress?: JsonValue;
  /** job.retried: when it runs again. */
  retry_at?: number;
  /** events.missed: events went by that this stream could not be given (its cursor left the window). */
  missed_after?: string;
}

export interface EventFilter {
  queues?: readonly string[];
  types?: readonly string[];
  kinds?: readonly EventKind[];
  /** Queue access of a caller limited to some queues: events of other queues, and those of none, are not for it. */
  mayRead?: (queue: string) => boolean;
}

export type EventSink = (events: WharfEvent[]) => void;

/** How a log reaches the other servers on its store: nowhere when alone. */
export interface EventOutlet {
  /** Sends events made here to the other servers. */
  send(events: WharfEvent[]): void;
  /** Tells the other servers that this one watches, so that they send theirs. */
  watching(): void;
  /** Whether another server watches (told within the keep time). */
  readonly othersWatch: boolean;
}

export const NO_OUTLET: EventOutlet = { send: () => undefined, watching: () => undefined, othersWatch: false };

export interface EventLogOptions {
  /** Events kept for resuming, at most (default 10,000). */
  windowSize?: number;
  /** How long events are still made, and kept, after the last watcher left (default 60 s): a reconnecting client loses none. */
  keepMs?: number;
}

interface Watcher {
  filter: EventFilter;
  sink: EventSink;
  /** Events that passed its filter this event-loop turn, sent together at its end. */
  pending: WharfEvent[];
}

/** The last `capacity` events, oldest first, each added in constant time. */
class Window {
  private readonly slots: WharfEvent[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  add(event: WharfEvent): void {
    if (this.slots.length < this.capacity) this.slots.push(event);
    else this.slots[this.next] = event;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  all(): WharfEvent[] {
    return this.slots.length < this.capacity ? [...this.slots] : [...this.slots.slice(this.next), ...this.slots.slice(0, this.next)];
  }
}

export class EventLog {
  private readonly window: Window;
  private readonly watchers = new Set<Watcher>();
  private readonly flushing = new Set<Watcher>();
  private flushScheduled = false;
  private keepUntil = Number.NEGATIVE_INFINITY;
  private outlet: EventOutlet = NO_OUTLET;
  readonly keepMs: number;

  constructor(private readonly clock: Clock, readonly server: string, options: EventLogOptions = {}) {
    this.keepMs = options.keepMs ?? 60_000;
    this.window = new Window(options.windowSize ?? 10_000);
  }

  connect(outlet: EventOutlet): void {
    this.outlet = outlet;
  }

  /** Whether events are to be made now: the one check a server nobody watches pays. */
  get wanted(): boolean {
    return this.watchedHere || this.outlet.othersWatch;
  }

  /** Someone watches this server, or did within the keep time: events are kept for them. */
  private get watchedHere(): boolean {
    return this.watchers.size > 0 || this.clock.now() < this.keepUntil;
  }

  /** Records and sends an event made here (the caller checked `wanted`). */
  publish(kind: EventKind, fields: Omit<WharfEvent, "schema" | "id" | "kind" | "time" | "server">): void {
    const event: WharfEvent = { schema: EVENT_SCHEMA, id: newJobId(), kind, time: this.clock.now(), server: this.server, ...fields };
    this.record([event]);
    this.outlet.send([event]);
  }

  /** Records events another server made. */
  receive(events: WharfEvent[]): void {
    if (this.watchedHere) this.record(events);
  }

  /**
   * Sends `sink` the window's events after `cursor` (all of them without one, after an events.missed
   * when the cursor has left the window), then each new event that passes `filter`, until the returned
   * function is called.
   */
  watch(filter: EventFilter, cursor: string | undefined, sink: EventSink): () => void {
    const watcher: Watcher = { filter, sink, pending: [] };
    if (cursor !== undefined) this.replay(watcher, cursor);
    this.watchers.add(watcher);
    this.outlet.watching();
    return () => {
      this.flushing.delete(watcher);
      if (this.watchers.delete(watcher)) this.keepUntil = this.clock.now() + this.keepMs;
    };
  }

  /** Tells the other servers again that this one watches, while it does (a service calls it). */
  stillWatching(): void {
    if (this.watchers.size > 0) this.outlet.watching();
  }

  private replay(watcher: Watcher, cursor: string): void {
    const window = this.window.all();
    const start = window.findIndex((event) => event.id === cursor);
    let replayed: WharfEvent[];
    if (start >= 0) replayed = window.slice(start + 1);
    else if (window.length > 0 && cursor > window[window.length - 1]!.id) replayed = [];
    else replayed = [{ schema: EVENT_SCHEMA, id: newJobId(), kind: "events.missed", time: this.clock.now(), server: this.server, missed_after: cursor }, ...window];
    const passing = replayed.filter((event) => event.kind === "events.missed" || passes(event, watcher.filter));
    if (passing.length > 0) watcher.sink(passing);
  }

  /** Keeps the events, and hands each watcher those it wants at the end of this event-loop turn: one write per turn, not per event. */
  private record(events: WharfEvent[]): void {
    for (const event of events) this.window.add(event);
    for (const watcher of this.watchers) {
      for (const event of events) if (passes(event, watcher.filter)) watcher.pending.push(event);
      if (watcher.pending.length > 0) this.flushing.add(watcher);
    }
    if (this.flushing.size === 0 || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const watcher of this.flushing) {
      const events = watcher.pending;
      watcher.pending = [];
      watcher.sink(events);
    }
    this.flushing.clear();
  }
}

function passes(event: WharfEvent, filter: EventFilter): boolean {
  if (filter.kinds && !filter.kinds.includes(event.kind)) return false;
  if (filter.mayRead && (event.queue === undefined || !filter.mayRead(event.queue))) return false;
  if (filter.queues && (event.queue === undefined || !filter.queues.includes(event.queue))) return false;
  if (filter.types && (event.job === undefined || !filter.types.includes(event.job.type))) return false;
  return true;
}

function eventJob(job: Pick<Job, "id" | "queue" | "type" | "status" | "attempts">): EventJob {
  return { id: job.id, queue: job.queue, type: job.type, status: job.status, attempts: job.attempts };
}

function errorOf(error: JobError): { message: string; error_type?: string } {
  return error.error_type === undefined ? { message: error.message } : { message: error.message, error_type: error.error_type };
}

/** The engine's reports as events, each made only while the log wants them. */
export function eventsObserver(log: EventLog): EngineObserver {
  const about = (kind: EventKind) => (job: Job): void => {
    if (log.wanted) log.publish(kind, { job: eventJob(job), queue: job.queue });
  };
  return {
    enqueued: about("job.enqueued"),
    folded: about("job.folded"),
    taken: about("job.taken"),
    completed: about("job.completed"),
    unblocked: about("job.unblocked"),
    cronFired: about("cron.fired"),
    died: about("job.dead"),
    progress: (job: Job, progress: JsonValue) => {
      if (log.wanted) log.publish("job.progress", { job: eventJob(job), queue: job.queue, progress });
    },
    failed: (job: Job, error: JobError) => {
      if (!log.wanted) return;
      const fields = { job: eventJob(job), queue: job.queue, error: errorOf(error) };
      log.publish("job.failed", fields);
      if (error.error_type === CANCELLED) log.publish("job.cancelled", fields);
      else if (job.status !== "dead") log.publish("job.retried", { ...fields, retry_at: job.ready_at });
    },
    deleted: (jobs: DeletedJob[]) => {
      if (!log.wanted) return;
      for (const job of jobs) log.publish("job.deleted", { job: eventJob(job), queue: job.queue });
    },
    queuePaused: (queue: string, paused: boolean) => {
      if (log.wanted) log.publish(paused ? "queue.paused" : "queue.resumed", { queue });
    },
    leadershipChanged: (leading: boolean) => {
      if (leading && log.wanted) log.publish("leader.elected", {});
    },
  };
}
