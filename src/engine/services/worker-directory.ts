import type { Logger } from "../../log.js";
import type { WorkerDirectory } from "../../store/sharing.js";
import { logFailure } from "../log.js";
import type { WorkerView } from "../worker-registry.js";
import type { Service } from "./service.js";

/**
 * On a shared store, every interval: publishes this server's workers (its open take streams and their
 * reports), so that GET /workers on any server lists every server's; withdrawn when the server stops.
 */
export class PublishWorkers implements Service {
  readonly name = "publish-workers";
  readonly runsOn = "everywhere";

  constructor(
    private readonly directory: WorkerDirectory,
    private readonly server: string,
    private readonly localWorkers: () => WorkerView[],
    private readonly logger: Logger,
  ) {}

  async tick(now: number): Promise<void> {
    await this.directory.publishWorkers(this.server, JSON.stringify(this.localWorkers()), now);
  }

  async stop(): Promise<void> {
    await this.directory.withdrawWorkers(this.server).catch((error: unknown) => logFailure(this.logger, "withdrawing this server's workers", error));
  }
}
