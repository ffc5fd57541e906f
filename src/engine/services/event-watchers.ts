import type { EventLog } from "../events.js";
import type { Service } from "./service.js";

/** On a shared store, every interval while this server has event watchers: tells the others, so that they keep sending theirs. */
export class EventWatchers implements Service {
  readonly name = "event-watchers";
  readonly runsOn = "everywhere";

  constructor(private readonly events: EventLog) {}

  async tick(): Promise<void> {
    this.events.stillWatching();
  }
}
