/**
 * Who works (GET /workers): this server's open take streams, each with what its worker last said
 * about itself (NatsWork's worker heartbeat: language, version, concurrency, memory, uptime, status),
 * matched by Worker-Id. A report not renewed within REPORT_TTL_MS is dropped.
 */
import { BadRequestError } from "../errors.js";
import type { Clock } from "./clock.js";
import type { StreamView } from "./dispatch.js";

export const WORKER_STATUSES = ["running", "paused", "stopping"] as const;
export type WorkerStatus = (typeof WORKER_STATUSES)[number];

/** What a worker reports about itself: every field optional but the status. */
export interface WorkerReport {
  status: WorkerStatus;
  language?: string;
  version?: string;
  concurrency?: number;
  memory_mb?: number;
  uptime_s?: number;
}

export interface WorkerView extends StreamView {
  server: string;
  report?: WorkerReport & { reported_at: number };
}

const REPORT_TTL_MS = 60_000;
const MAX_REPORTS = 10_000;
const TEXT_FIELDS = ["language", "version"] as const;
const NUMBER_FIELDS = ["concurrency", "memory_mb", "uptime_s"] as const;

/** The report of worker `workerId` (1 to 256 characters), as PUT /workers/{id}/report sends it. */
export function parseWorkerReport(workerId: string, body: unknown): WorkerReport {
  if (workerId.length === 0 || workerId.length > 256) throw new BadRequestError("a worker id is 1 to 256 characters");
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadRequestError("a worker report is a JSON object");
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((name) => name !== "status" && !(TEXT_FIELDS as readonly string[]).includes(name) && !(NUMBER_FIELDS as readonly string[]).includes(name));
  if (unknown !== undefined) throw new BadRequestError(`unknown worker report field ${JSON.stringify(unknown)} (fields: status, ${[...TEXT_FIELDS, ...NUMBER_FIELDS].join(", ")})`);
  if (!(WORKER_STATUSES as readonly unknown[]).includes(fields.status)) throw new BadRequestError(`status must be one of ${WORKER_STATUSES.join(", ")}`);
  const report: WorkerReport = { status: fields.status as WorkerStatus };
  for (const name of TEXT_FIELDS) {
    const value = fields[name];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.length > 100) throw new BadRequestError(`${name} must be a string of at most 100 characters`);
    report[name] = value;
  }
  for (const name of NUMBER_FIELDS) {
    const value = fields[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw new BadRequestError(`${name} must be a number, 0 or more`);
    report[name] = value;
  }
  return report;
}

export class WorkerReports {
  private readonly reports = new Map<string, WorkerReport & { reported_at: number }>();

  constructor(private readonly clock: Clock, private readonly server: string) {}

  report(workerId: string, report: WorkerReport): void {
    this.forgetStale();
    if (this.reports.size >= MAX_REPORTS && !this.reports.has(workerId)) throw new BadRequestError(`this server keeps reports of at most ${MAX_REPORTS} workers`);
    this.reports.delete(workerId);
    this.reports.set(workerId, { ...report, reported_at: this.clock.now() });
  }

  /** The streams, each with its worker's report. */
  views(streams: StreamView[]): WorkerView[] {
    this.forgetStale();
    return streams.map((stream) => {
      const report = stream.worker_id === null ? undefined : this.reports.get(stream.worker_id);
      return { ...stream, server: this.server, ...(report ? { report } : {}) };
    });
  }

  /** Oldest reports first (a report moves to the end when renewed). */
  private forgetStale(): void {
    const cutoff = this.clock.now() - REPORT_TTL_MS;
    for (const [workerId, report] of this.reports) {
      if (report.reported_at >= cutoff) return;
      this.reports.delete(workerId);
    }
  }
}
