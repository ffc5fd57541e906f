import type { Dispatcher } from "../dispatch.js";
import type { Service } from "./service.js";

/** On a shared store, a claim round every interval: a notification that never arrived delays a ready job by one interval at most. */
export class WakeUp implements Service {
  readonly name = "wake-up";
  readonly runsOn = "everywhere";

  constructor(private readonly dispatcher: Dispatcher) {}

  async tick(): Promise<void> {
    this.dispatcher.wake();
  }
}
