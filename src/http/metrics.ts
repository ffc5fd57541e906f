import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Engine } from "../engine/engine.js";
import type { EngineObserver } from "../engine/observer.js";

/**
 * Prometheus metrics for one server. Counters are fed by the engine as it
 * works; job counts are read from the engine's live tallies at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly observer: EngineObserver;
  private engine: Engine | undefined;
  private readonly refusedConnections: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "wharf_" });
    const enqueued = new Counter({ name: "wharf_jobs_enqueued_total", help: "Jobs enqueued", labelNames: ["queue"], registers });
    const completed = new Counter({ name: "wharf_jobs_completed_total", help: "Jobs completed", labelNames: ["queue"], registers });
    const failed = new Counter({ name: "wharf_jobs_failed_total", help: "Failed attempts, lease expiries included", labelNames: ["queue"], registers });
    const dead = new Counter({ name: "wharf_jobs_dead_total", help: "Jobs that became dead", labelNames: ["queue"], registers });
    const expired = new Counter({ name: "wharf_leases_expired_total", help: "Attempts failed because their lease ran out", labelNames: ["queue"], registers });
    const cronFires = new Counter({ name: "wharf_cron_fires_total", help: "Jobs enqueued by cron ticks", labelNames: ["queue"], registers });
    const folds = new Counter({ name: "wharf_batch_folds_total", help: "Enqueues folded into their batch's open job", labelNames: ["queue"], registers });
    const waited = new Histogram({
      name: "wharf_enqueue_to_take_seconds",
      help: "Time from a job becoming ready to a worker taking it",
      labelNames: ["queue"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    const engine = (): Engine | undefined => this.engine;
    new Gauge({
      name: "wharf_jobs",
      help: "Jobs by queue and status",
      labelNames: ["queue", "status"],
      registers,
      async collect() {
        const counts = (await engine()?.statusCounts()) ?? [];
        this.reset();
        for (const { queue, status, count } of counts) this.set({ queue, status }, count);
      },
    });
    new Gauge({
      name: "wharf_jobs_in_flight",
      help: "Jobs leased to workers right now",
      registers,
      collect() {
        this.set(engine()?.inFlightCount ?? 0);
      },
    });
    new Gauge({
      name: "wharf_take_streams",
      help: "Open take streams",
      registers,
      collect() {
        this.set(engine()?.takeStreamCount ?? 0);
      },
    });
    this.refusedConnections = new Counter({ name: "wharf_connections_refused_total", help: "Connections closed on arrival because the server held --max-connections", registers });
    this.observer = {
      enqueued: (job) => enqueued.inc({ queue: job.queue }),
      cronFired: (job) => cronFires.inc({ queue: job.queue }),
      folded: (job) => folds.inc({ queue: job.queue }),
      completed: (job) => completed.inc({ queue: job.queue }),
      failed: (job) => failed.inc({ queue: job.queue }),
      died: (job) => dead.inc({ queue: job.queue }),
      leaseExpired: (job) => expired.inc({ queue: job.queue }),
      taken: (job, waitedMs) => waited.observe({ queue: job.queue }, waitedMs / 1000),
    };
  }

  connectionRefused(): void {
    this.refusedConnections.inc();
  }

  attach(engine: Engine): void {
    this.engine = engine;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
