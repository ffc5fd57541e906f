import type { Logger } from "../../log.js";
import type { Clock } from "../clock.js";
import { logFailure } from "../log.js";
import type { Service } from "./service.js";

/** Ticks the engine's services on its clock, one round at a time: everywhere-services first, then, while leading, the leader's. */
export class ServiceRunner {
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly services: readonly Service[],
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly lead: () => Promise<boolean>,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    for (const service of this.services) await service.start?.();
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    this.cancelTimer = this.clock.setTimer(this.clock.now() + this.intervalMs, () => {
      this.running = this.round();
      return this.running;
    });
  }

  private async round(): Promise<void> {
    const now = this.clock.now();
    await this.tickAll("everywhere", now);
    if (this.services.some((service) => service.runsOn === "leader") && (await this.lead().catch(() => false))) await this.tickAll("leader", now);
    this.running = undefined;
    this.arm();
  }

  private async tickAll(runsOn: Service["runsOn"], now: number): Promise<void> {
    for (const service of this.services) {
      if (service.runsOn !== runsOn || !service.tick || this.stopped) continue;
      try {
        await service.tick(now);
      } catch (error) {
        logFailure(this.logger, service.name, error);
      }
    }
  }

  /** No further rounds; resolves when the round under way and every service have stopped, so the store can be closed after. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.running;
    for (const service of this.services) await service.stop?.();
  }
}
