#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from "node:util";
import { connect, type Client, type Job, type JobFilter } from "../index.js";
import { InvalidStoreError, ServerUnreachableError, StoreInUseError, WharfError } from "../errors.js";
import { startServer, type ServerOptions } from "../http/server.js";
import type { EnqueueInput, JobStatus, UniqueWhile } from "../job/types.js";
import { parseJson, stringifyJson } from "../job/json.js";
import { storeSpecOf } from "../store/open.js";
import { VERSION } from "../version.js";

const USAGE = `wharf ${VERSION}: a durable job queue

Usage:
  wharf serve [--host 127.0.0.1] [--port 7890] [--data-dir ./wharf-data]
              [--store sqlite:PATH | sqlite::memory: | postgres://... | postgresql://...]
              [--durability fsync|buffered] [--max-body-bytes N] [--max-in-flight N]
              [--lease-timeout SECONDS] [--retry-limit N] [--completed-retention-ms MS] [--dead-retention-ms MS]
              [--filter-timeout-ms MS] [--filter-memory-mb MIB]
  wharf enqueue QUEUE TYPE PAYLOAD_JSON [--priority N] [--ready-at MS|ISO-8601] [--unique-key KEY]
              [--unique-while queued|active|exists] [--retry-limit N] [--timeout SECONDS]
  wharf jobs list   [FILTERS] [--order asc|desc] [--limit N]
  wharf jobs get    ID
  wharf jobs count  [FILTERS]
  wharf jobs delete ID... | FILTERS --all
  wharf jobs retry  ID... | FILTERS --all
  wharf queues
  wharf health

FILTERS: --id A,B --queue A,B --type A,B --status ready,dead --priority RANGE --ready-at RANGE
         --attempts RANGE --filter JQ      (RANGE is N, A..B, ..B or A..)
Remote commands talk to --url (or WHARF_URL), default http://127.0.0.1:7890.
`;

class UsageError extends Error {}

const FILTER_OPTIONS = {
  id: { type: "string" },
  queue: { type: "string" },
  type: { type: "string" },
  status: { type: "string" },
  priority: { type: "string" },
  "ready-at": { type: "string" },
  attempts: { type: "string" },
  filter: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

const COMMON_OPTIONS = { url: { type: "string" }, help: { type: "boolean", short: "h" } } as const satisfies ParseArgsConfig["options"];

function parse<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`--${name} must be an integer, got "${value}"`);
  return Number(value);
}

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === "" || !Number.isFinite(parsed)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return parsed;
}

/** Milliseconds since the epoch, or an ISO-8601 date. */
function timestamp(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new UsageError(`--${name} must be milliseconds since the epoch or an ISO-8601 date, got "${value}"`);
  return parsed;
}

function client(url: string | undefined): Client {
  const target = url || process.env.WHARF_URL || "http://127.0.0.1:7890";
  try {
    return connect(target);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function print(value: unknown): void {
  process.stdout.write(`${stringifyJson(value)}\n`);
}

function filterFrom(values: Record<string, string | boolean | undefined>): JobFilter {
  const filter: JobFilter = {};
  const text = (name: string): string | undefined => values[name] as string | undefined;
  if (text("id")) filter.id = text("id");
  if (text("queue")) filter.queue = text("queue");
  if (text("type")) filter.type = text("type");
  if (text("status")) filter.status = text("status")!.split(",") as JobStatus[];
  if (text("priority")) filter.priority = text("priority");
  if (text("ready-at")) filter.ready_at = text("ready-at");
  if (text("attempts")) filter.attempts = text("attempts");
  if (text("filter")) filter.filter = text("filter");
  return filter;
}

function hasFilter(filter: JobFilter): boolean {
  return Object.keys(filter).length > 0;
}

async function serve(args: string[]): Promise<void> {
  const { values } = parse(args, {
    host: { type: "string" },
    port: { type: "string" },
    "data-dir": { type: "string" },
    store: { type: "string" },
    durability: { type: "string" },
    "max-body-bytes": { type: "string" },
    "max-in-flight": { type: "string" },
    "lease-timeout": { type: "string" },
    "retry-limit": { type: "string" },
    "completed-retention-ms": { type: "string" },
    "dead-retention-ms": { type: "string" },
    "filter-timeout-ms": { type: "string" },
    "filter-memory-mb": { type: "string" },
  });
  try {
    storeSpecOf({ store: values.store, dataDir: values["data-dir"] });
  } catch (error) {
    if (error instanceof InvalidStoreError) throw new UsageError(`--store: ${error.message}`);
    throw error;
  }
  const durability = values.durability ?? "fsync";
  if (durability !== "fsync" && durability !== "buffered") throw new UsageError(`--durability must be fsync or buffered, got "${durability}"`);
  const options: ServerOptions = {
    host: values.host ?? "127.0.0.1",
    port: integer(values.port, "port") ?? 7890,
    dataDir: values["data-dir"],
    store: values.store,
    durability,
    maxBodyBytes: integer(values["max-body-bytes"], "max-body-bytes"),
    maxInFlight: integer(values["max-in-flight"], "max-in-flight"),
    defaultTimeoutSeconds: number(values["lease-timeout"], "lease-timeout"),
    defaultRetryLimit: integer(values["retry-limit"], "retry-limit"),
    retention: {
      ...(values["completed-retention-ms"] ? { completed_ms: integer(values["completed-retention-ms"], "completed-retention-ms")! } : {}),
      ...(values["dead-retention-ms"] ? { dead_ms: integer(values["dead-retention-ms"], "dead-retention-ms")! } : {}),
    },
    filterBudget: {
      ...(values["filter-timeout-ms"] ? { timeoutMs: integer(values["filter-timeout-ms"], "filter-timeout-ms")! } : {}),
      ...(values["filter-memory-mb"] ? { memoryMb: integer(values["filter-memory-mb"], "filter-memory-mb")! } : {}),
    },
  };
  const server = await startServer(options);
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    process.stdout.write(`${JSON.stringify({ level: "info", msg: "shutting down", signal })}\n`);
    void server.close().then(() => process.exit(0));
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

async function enqueue(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    priority: { type: "string" },
    "ready-at": { type: "string" },
    "unique-key": { type: "string" },
    "unique-while": { type: "string" },
    "retry-limit": { type: "string" },
    timeout: { type: "string" },
  });
  const [queue, type, payloadText, ...extra] = positionals;
  if (queue === undefined || type === undefined || payloadText === undefined || extra.length > 0) {
    throw new UsageError("enqueue needs exactly QUEUE TYPE PAYLOAD_JSON");
  }
  let payload: EnqueueInput["payload"];
  try {
    payload = parseJson(payloadText) as EnqueueInput["payload"];
  } catch (error) {
    throw new UsageError(`PAYLOAD_JSON is not valid JSON: ${(error as Error).message}`);
  }
  const input: EnqueueInput = { queue, type, payload };
  const priority = integer(values.priority, "priority");
  if (priority !== undefined) input.priority = priority;
  const readyAt = timestamp(values["ready-at"], "ready-at");
  if (readyAt !== undefined) input.ready_at = readyAt;
  if (values["unique-key"] !== undefined) input.unique_key = values["unique-key"];
  if (values["unique-while"] !== undefined) input.unique_while = values["unique-while"] as UniqueWhile;
  const retryLimit = integer(values["retry-limit"], "retry-limit");
  if (retryLimit !== undefined) input.retry_limit = retryLimit;
  const timeout = number(values.timeout, "timeout");
  if (timeout !== undefined) input.timeout = timeout;
  const wharf = client(values.url);
  try {
    print(await wharf.enqueue(input));
  } finally {
    await wharf.close();
  }
}

/** Job ids, or filters with --all: one or the other. */
function requireIdsOrAll(ids: string[], filter: JobFilter, all: boolean | undefined): void {
  if (ids.length > 0 && (hasFilter(filter) || all)) throw new UsageError("give job ids or filters with --all, not both");
  if (ids.length === 0 && !all) throw new UsageError("give job ids, or filters with --all to act on every match");
}

/** Ids given as arguments, or every job matching the filters when --all says so. */
async function* targets(wharf: Client, ids: string[], filter: JobFilter, all: boolean | undefined): AsyncGenerator<Job> {
  requireIdsOrAll(ids, filter, all);
  if (ids.length > 0) {
    for (const id of ids) yield await wharf.getJob(id);
    return;
  }
  yield* wharf.listJobs({ ...filter, pageSize: 500 });
}

/** Runs a scheduled or ready job now; a dead job is enqueued afresh (same queue, type, payload and options) and the dead copy removed. */
async function retryJob(wharf: Client, job: Job): Promise<unknown> {
  if (job.status === "dead") return { retried: job.id, as: await wharf.requeueDead(job.id) };
  if (job.status === "scheduled" || job.status === "ready") return wharf.patchJob(job.id, { ready_at: null });
  throw new WharfError(422, `job ${job.id} is ${job.status}; only scheduled, ready and dead jobs can be retried`);
}

async function jobs(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values, positionals } = parse(rest, {
    ...FILTER_OPTIONS,
    order: { type: "string" },
    limit: { type: "string" },
    all: { type: "boolean" },
  });
  const filter = filterFrom(values);
  const wharf = client(values.url);
  try {
    switch (action) {
      case "list": {
        const limit = integer(values.limit, "limit") ?? 50;
        const order = values.order as "asc" | "desc" | undefined;
        let printed = 0;
        for await (const job of wharf.listJobs({ ...filter, order, pageSize: Math.min(Math.max(limit, 1), 2000) })) {
          if (printed++ >= limit) break;
          print(job);
        }
        return;
      }
      case "get":
        if (positionals.length !== 1) throw new UsageError("jobs get needs exactly one ID");
        print(await wharf.getJob(positionals[0]!));
        return;
      case "count":
        print({ count: await wharf.countJobs(filter) });
        return;
      case "delete":
        if (positionals.length === 0 && values.all) {
          print({ deleted: await wharf.deleteJobs(filter) });
          return;
        }
        requireIdsOrAll(positionals, filter, values.all);
        for (const id of positionals) {
          await wharf.deleteJob(id);
          print({ deleted: id });
        }
        return;
      case "retry":
        for await (const job of targets(wharf, positionals, filter, values.all)) print(await retryJob(wharf, job));
        return;
      default:
        throw new UsageError(`unknown jobs action "${action ?? ""}": use list, get, count, delete or retry`);
    }
  } finally {
    await wharf.close();
  }
}

async function simple(args: string[], run: (wharf: Client) => Promise<unknown>): Promise<void> {
  const { values, positionals } = parse(args, {});
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const wharf = client(values.url);
  try {
    print(await run(wharf));
  } finally {
    await wharf.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case "serve": await serve(args); return 0;
      case "enqueue": await enqueue(args); return 0;
      case "jobs": await jobs(args); return 0;
      case "queues": await simple(args, async (wharf) => ({ queues: await wharf.queues() })); return 0;
      case "health": await simple(args, (wharf) => wharf.health()); return 0;
      case "version": case "--version": print({ version: VERSION }); return 0;
      case undefined: case "help": case "--help": case "-h": process.stdout.write(USAGE); return 0;
      default: throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`wharf: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ServerUnreachableError || error instanceof StoreInUseError) {
      process.stderr.write(`wharf: ${error.message}\n`);
      return 1;
    }
    if (error instanceof WharfError) {
      process.stderr.write(`wharf: ${error.message} (HTTP ${error.status})\n`);
      return 1;
    }
    process.stderr.write(`wharf: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

const exitCode = await main(process.argv.slice(2));
if (exitCode !== 0) process.exit(exitCode);
