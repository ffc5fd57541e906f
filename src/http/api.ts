/**
 * The Zizq-compatible API as a function from request to response, with no
 * sockets in it. The HTTP server and the in-process SDK transport both run
 * its routes, so the two behave alike by construction. Handlers parse, call
 * the engine and shape the answer; the queue logic is the engine's. The route
 * table (ROUTES) also says what each route needs of its caller, which the
 * server checks before a handler runs; handlers never check it themselves.
 */
import { BadRequestError, MethodNotAllowedError, NotFoundError, UnprocessableError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import type { ControlSink, JobSink, Subscription, TakeOptions } from "../engine/dispatch.js";
import { EVENT_KINDS, isEventKind, type EventFilter, type EventKind, type EventSink } from "../engine/events.js";
import { parseWorkerReport } from "../engine/worker-registry.js";
import { notInFlight } from "../engine/leases.js";
import { jobNotFound, workflowNotFound } from "../engine/not-found.js";
import { isJobId } from "../job/ids.js";
import { parseAckList, readBulkJobs, parseEnqueueInput, parseFailure, parseLeaseRequest, parsePatch } from "../job/validate.js";
import { enqueuedView, enqueueStatus, withoutPayload } from "../job/views.js";
import { isCronName, parseCronEntry, parseCronGroup, parseCronPause, readCronName } from "../cron/validate.js";
import { cronEntryView, cronGroupView } from "../cron/views.js";
import { parseQueuePatch } from "../engine/queue-settings.js";
import type { EnqueueInput } from "../job/types.js";
import { mapInSlices } from "../slices.js";
import { VERSION } from "../version.js";
import type { Identity, Scope } from "./identity.js";
import { PAGE_PARAMS, pageLinks, parseInteger, QueryParams, readPage, readSelection, SELECTION_PARAMS } from "./params.js";
import { queueViewFor, type QueueView } from "./queue-view.js";

/** The routes that answer with a stream (ApiResponse kinds "take" and "events"): servers negotiate their format up front. */
export const TAKE_PATH = "/jobs/take";
export const EVENTS_PATH = "/events";
/** Prometheus metrics (ApiResponse kind "metrics"), in the registry's own text format whatever the Accept header. */
export const METRICS_PATH = "/metrics";

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  workerId?: string;
  /** The Last-Event-ID header: where a client resumes an event stream. */
  lastEventId?: string;
}

export type ApiResponse =
  | { kind: "body"; status: number; body?: unknown }
  | { kind: "take"; open: (sink: JobSink, control?: ControlSink) => Subscription; controls: boolean }
  | { kind: "events"; open: (sink: EventSink) => () => void }
  | { kind: "metrics" };

/** A handler of jobs and queues: the engine as its caller may see it. */
type Handler = (engine: QueueView, request: ApiRequest, pathParams: string[]) => Promise<ApiResponse>;
/** A handler that reaches every queue (cron groups, reset): only callers that may reach every queue get here. */
type EngineHandler = (engine: Engine, request: ApiRequest, pathParams: string[]) => Promise<ApiResponse>;

/** What a route's method needs of its caller (README "Authentication and scopes"). */
export interface Access {
  /** The scope its token needs; null: open to anyone. */
  readonly scope: Scope | null;
  /** It reaches every queue (a reset, the cron groups, metrics): a token limited to some queues may not call it. */
  readonly everyQueue: boolean;
}

interface Endpoint extends Access {
  run(engine: Engine, identity: Identity | undefined, request: ApiRequest, pathParams: string[]): Promise<ApiResponse>;
}

export interface Route {
  /** As the README writes it: `/jobs/{id}/errors`. */
  readonly path: string;
  readonly pattern: RegExp;
  readonly methods: Readonly<Record<string, Endpoint>>;
}

const ok = (body: unknown, status = 200): ApiResponse => ({ kind: "body", status, body });
const noContent: ApiResponse = { kind: "body", status: 204 };

function params(request: ApiRequest, allowed: readonly string[]): QueryParams {
  return new QueryParams(request.query, allowed, `${request.method} ${request.path}`);
}

function noParams(request: ApiRequest): void {
  params(request, []);
}

function noBody(request: ApiRequest): void {
  if (request.body !== undefined) throw new BadRequestError(`${request.method} ${request.path} takes no request body`);
}

const health: Handler = async (_engine, request) => {
  noParams(request);
  return ok({ status: "ok" });
};

const version: Handler = async (_engine, request) => {
  noParams(request);
  // uptime_s is a Wharf extension (wharf top shows it); Zizq clients read version only.
  return ok({ version: VERSION, uptime_s: Math.floor(process.uptime()) });
};

const queues: Handler = async (engine, request) => {
  noParams(request);
  return ok({ queues: await engine.queues() });
};

const enqueueOne: Handler = async (engine, request) => {
  noParams(request);
  const outcomes = await engine.enqueue([parseEnqueueInput(request.body)]);
  return ok(enqueuedView(outcomes[0]!), enqueueStatus(outcomes));
};

const enqueueBulk: Handler = async (engine, request) => {
  noParams(request);
  const outcomes = await engine.enqueue(await parseBulkInSlices(request.body));
  return ok({ jobs: await mapInSlices(outcomes, enqueuedView) }, enqueueStatus(outcomes));
};

/** Every job of a bulk checked a slice at a time: checking 50,000 jobs must not hold up other requests. */
function parseBulkInSlices(body: unknown): Promise<EnqueueInput[]> {
  return mapInSlices(readBulkJobs(body), (job, index) => parseEnqueueInput(job, `jobs[${index}]`));
}

const listJobs: Handler = async (engine, request) => {
  const query = params(request, [...SELECTION_PARAMS, ...PAGE_PARAMS]);
  const selection = await readSelection(query, engine.filterBudget);
  const page = readPage(query, 2000, 50);
  const result = await engine.listJobs(selection, { after: page.from, order: page.order, limit: page.limit });
  const first = result.jobs[0]?.id;
  const last = result.jobs[result.jobs.length - 1]?.id;
  return ok({ jobs: result.jobs, pages: pageLinks("/jobs", page, first, last, result.more, request.query) });
};

const countJobs: Handler = async (engine, request) => {
  const selection = await readSelection(params(request, SELECTION_PARAMS), engine.filterBudget);
  return ok({ count: await engine.countJobs(selection) });
};

const patchJobs: Handler = async (engine, request) => {
  const selection = await readSelection(params(request, SELECTION_PARAMS), engine.filterBudget);
  return ok({ patched: await engine.patchJobs(selection, parsePatch(request.body)) });
};

const deleteJobs: Handler = async (engine, request) => {
  const selection = await readSelection(params(request, SELECTION_PARAMS), engine.filterBudget);
  noBody(request);
  return ok({ deleted: await engine.deleteJobs(selection) });
};

const take: Handler = async (engine, request) => {
  const query = params(request, ["queue", "types", "prefetch", "controls"]);
  const options: TakeOptions = { queues: query.list("queue") ?? [], prefetch: query.integer("prefetch", 0, 2 ** 31 - 1) ?? 1 };
  const types = query.list("types");
  if (types) options.types = types;
  if (request.workerId !== undefined) options.workerId = request.workerId;
  // A Wharf extension: control frames (a cancelled run) go only to clients that ask, so Zizq clients see jobs only.
  const controls = query.get("controls");
  if (controls !== undefined && controls !== "true" && controls !== "false") throw new BadRequestError(`controls must be true or false, got ${JSON.stringify(controls)}`);
  return { kind: "take", open: (sink, control) => engine.take(options, sink, control), controls: controls === "true" };
};

const watchEvents: Handler = async (engine, request) => {
  const query = params(request, ["queue", "type", "kind", "after"]);
  const filter: EventFilter = {};
  const queues = query.list("queue");
  if (queues) filter.queues = queues;
  const types = query.list("type");
  if (types) filter.types = types;
  const kinds = query.list("kind");
  if (kinds) filter.kinds = kinds.map(eventKind);
  const cursor = query.get("after") ?? request.lastEventId;
  if (cursor !== undefined && !isJobId(cursor)) throw new BadRequestError(`the cursor (after, or Last-Event-ID) must be an event id, got ${JSON.stringify(cursor.slice(0, 40))}`);
  return { kind: "events", open: (sink) => engine.watchEvents(filter, cursor, sink) };
};

function eventKind(kind: string): EventKind {
  if (!isEventKind(kind)) throw new BadRequestError(`unknown event kind ${JSON.stringify(kind)} (kinds: ${EVENT_KINDS.join(", ")})`);
  return kind;
}

const listWorkers: EngineHandler = async (engine, request) => {
  noParams(request);
  return ok({ workers: await engine.workers() });
};

const reportWorker: Handler = async (engine, request, [workerId]) => {
  noParams(request);
  engine.reportWorker(workerId!, parseWorkerReport(workerId!, request.body));
  return noContent;
};

const cancelJob: Handler = async (engine, request, [id]) => {
  noParams(request);
  noBody(request);
  return ok(withoutPayload(await engine.cancel(id!)));
};

const closeTake: Handler = async (engine, request, [stream]) => {
  noParams(request);
  await engine.closeTake(stream!);
  return noContent;
};

const ackMany: Handler = async (engine, request) => {
  noParams(request);
  const { ids, runIds, results } = parseAckList(request.body);
  const notFound = await engine.ack(ids, runIds, results);
  if (notFound.length > 0) {
    throw new UnprocessableError(`${notFound.length} job(s) were not in flight`, { not_found: notFound });
  }
  return noContent;
};

const getJob: Handler = async (engine, request, [id]) => {
  noParams(request);
  return ok(await engine.getJob(id!));
};

const getResult: Handler = async (engine, request, [id]) => {
  noParams(request);
  noBody(request);
  return ok({ result: await engine.getResult(id!) });
};

const patchJob: Handler = async (engine, request, [id]) => {
  noParams(request);
  return ok(withoutPayload(await engine.patchJob(id!, parsePatch(request.body))));
};

const deleteJob: Handler = async (engine, request, [id]) => {
  noParams(request);
  await engine.deleteJob(id!);
  return noContent;
};

/** A Wharf extension: a dead job enqueued afresh (a new id), the dead one removed, atomically. */
const requeueDead: Handler = async (engine, request, [id]) => {
  noParams(request);
  noBody(request);
  const outcome = await engine.requeueDead(id!);
  return ok(enqueuedView(outcome), enqueueStatus([outcome]));
};

const ackOne: Handler = async (engine, request, [id]) => {
  noParams(request);
  const { runId, value: result } = parseLeaseRequest(request.body, "result");
  const notFound = await engine.ack([id!], [runId], result === undefined ? undefined : [result]);
  if (notFound.length > 0) throw new NotFoundError(`job ${id} is not in flight`);
  return noContent;
};

const failJob: Handler = async (engine, request, [id]) => {
  noParams(request);
  const { run_id: runId, ...failure } = parseFailure(request.body);
  return ok(withoutPayload(await engine.fail(id!, failure, runId)));
};

const heartbeat: Handler = async (engine, request, [id]) => {
  noParams(request);
  const { runId, value: state, progress } = parseLeaseRequest(request.body, "state");
  return ok(await engine.heartbeat(id!, runId, state, progress));
};

const listErrors: Handler = async (engine, request, [id]) => {
  const query = params(request, PAGE_PARAMS);
  const page = readPage(query, 2000, 50);
  const after = page.from === undefined ? undefined : parseInteger(page.from, "from");
  const result = await engine.listErrors(id!, { afterAttempt: after, order: page.order, limit: page.limit });
  const first = result.errors[0]?.attempt;
  const last = result.errors[result.errors.length - 1]?.attempt;
  const links = pageLinks(`/jobs/${id}/errors`, page, first?.toString(), last?.toString(), result.more, new URLSearchParams());
  return ok({ errors: result.errors, pages: links });
};

const getError: Handler = async (engine, request, [id, attempt]) => {
  noParams(request);
  return ok(await engine.getError(id!, parseInteger(attempt!, "attempt")));
};

const metrics: EngineHandler = async (_engine, request) => {
  noParams(request);
  return { kind: "metrics" };
};

const reset: EngineHandler = async (engine, request) => {
  noParams(request);
  await engine.reset();
  return noContent;
};

// ---- cron groups ----

const listCrons: EngineHandler = async (engine, request) => {
  noParams(request);
  return ok({ crons: await engine.crons.list() });
};

const deleteCrons: EngineHandler = async (engine, request) => {
  noParams(request);
  noBody(request);
  return ok({ deleted: await engine.crons.deleteAll() });
};

const getCron: EngineHandler = async (engine, request, [group]) => {
  noParams(request);
  return ok(cronGroupView(await engine.crons.get(group!)));
};

const putCron: EngineHandler = async (engine, request, [group]) => {
  noParams(request);
  const definition = parseCronGroup(request.body, engine.clock.now());
  return ok(cronGroupView(await engine.crons.put(readCronName(group, "group"), definition)));
};

const patchCron: EngineHandler = async (engine, request, [group]) => {
  noParams(request);
  return ok(cronGroupView(await engine.crons.pause(group!, parseCronPause(request.body))));
};

const deleteCron: EngineHandler = async (engine, request, [group]) => {
  noParams(request);
  await engine.crons.delete(group!);
  return noContent;
};

const addCronEntry: EngineHandler = async (engine, request, [group]) => {
  noParams(request);
  const definition = parseCronEntry(request.body, "", engine.clock.now());
  return ok(cronEntryView(await engine.crons.addEntry(readCronName(group, "group"), definition)), 201);
};

const getCronEntry: EngineHandler = async (engine, request, [group, entry]) => {
  noParams(request);
  return ok(cronEntryView(await engine.crons.getEntry(group!, entry!)));
};

const putCronEntry: EngineHandler = async (engine, request, [group, entry]) => {
  noParams(request);
  const definition = parseCronEntry(request.body, "", engine.clock.now());
  if (definition.name !== entry) throw new BadRequestError(`name ${JSON.stringify(definition.name)} must be the entry's name in the path, ${JSON.stringify(entry)}`);
  return ok(cronEntryView(await engine.crons.putEntry(readCronName(group, "group"), definition)));
};

const patchCronEntry: EngineHandler = async (engine, request, [group, entry]) => {
  noParams(request);
  return ok(cronEntryView(await engine.crons.pauseEntry(group!, entry!, parseCronPause(request.body))));
};

const deleteCronEntry: EngineHandler = async (engine, request, [group, entry]) => {
  noParams(request);
  await engine.crons.deleteEntry(group!, entry!);
  return noContent;
};

/**
 * A handler whose first path segment is a job id: one that cannot be a job id (a NUL, a path, another
 * shape) is a 404 here, as an unknown id is, without reaching the store (PostgreSQL refuses NUL in text).
 */
function withJobId(handler: Handler, notFound: (id: string) => NotFoundError = jobNotFound): Handler {
  return async (engine, request, pathParams) => {
    const id = pathParams[0]!;
    if (!isJobId(id)) throw notFound(JSON.stringify(id).slice(1, -1));
    return handler(engine, request, pathParams);
  };
}
const notInFlightNow = (id: string): NotFoundError => notInFlight(id, undefined);

const getQueue: Handler = async (engine, request, [queue]) => {
  noParams(request);
  noBody(request);
  return ok(await engine.getQueue(queue!));
};

const patchQueue: Handler = async (engine, request, [queue]) => {
  noParams(request);
  return ok(await engine.patchQueue(queue!, parseQueuePatch(request.body)));
};

/** POST /queues/{queue}/pause and /resume: shorthands for PATCH {"paused": true|false}. */
function setPaused(paused: boolean): Handler {
  return async (engine, request, [queue]) => {
    noParams(request);
    noBody(request);
    return ok(await engine.patchQueue(queue!, { paused }));
  };
}

const createWorkflow: Handler = async (engine, request) => {
  noParams(request);
  return ok(await engine.createWorkflow(request.body), 201);
};

const getWorkflow: Handler = async (engine, request, [id]) => {
  noParams(request);
  return ok(await engine.getWorkflow(id!));
};

const deleteWorkflow: Handler = async (engine, request, [id]) => {
  noParams(request);
  noBody(request);
  return ok({ deleted: await engine.deleteWorkflow(id!) });
};

/** A handler of cron paths: a group or entry name no store can hold (NUL, badly formed, too long) is not found, without a query. */
function withCronNames(handler: EngineHandler): EngineHandler {
  return async (engine, request, pathParams) => {
    for (const name of pathParams) {
      if (!isCronName(name)) throw new NotFoundError(`cron group or entry ${JSON.stringify(name).slice(0, 80)} not found`);
    }
    return handler(engine, request, pathParams);
  };
}

/** Needs `scope`; a caller limited to some queues gets the engine as its queues' view (queue-view.ts). */
function needs(scope: Scope | null, handler: Handler): Endpoint {
  return { scope, everyQueue: false, run: (engine, identity, request, pathParams) => handler(queueViewFor(engine, identity), request, pathParams) };
}

/** Open to anyone, token or not: what a load balancer's health check calls. */
const open = (handler: Handler): Endpoint => needs(null, handler);

/** Needs `scope` and reaches every queue: a caller limited to some queues is refused before it runs (access.ts). */
function needsEveryQueue(scope: Scope, handler: EngineHandler): Endpoint {
  return { scope, everyQueue: true, run: (engine, _identity, request, pathParams) => handler(engine, request, pathParams) };
}

/**
 * Every route, first match wins, with what each method needs of its caller: the one table that decides
 * authorization (README "Authentication and scopes" shows it; test/http/auth.test.ts checks every entry).
 */
export const ROUTES: readonly Route[] = [
  route("/health", { GET: open(health) }),
  route("/version", { GET: open(version) }),
  route(METRICS_PATH, { GET: needsEveryQueue("read", metrics) }),
  route("/queues", { GET: needs("read", queues) }),
  route("/queues/{queue}", { GET: needs("read", getQueue), PATCH: needs("admin", patchQueue) }),
  route("/queues/{queue}/pause", { POST: needs("admin", setPaused(true)) }),
  route("/queues/{queue}/resume", { POST: needs("admin", setPaused(false)) }),
  route("/reset", { POST: needsEveryQueue("admin", reset) }),
  route("/jobs", { POST: needs("enqueue", enqueueOne), GET: needs("read", listJobs), PATCH: needs("admin", patchJobs), DELETE: needs("admin", deleteJobs) }),
  route("/jobs/bulk", { POST: needs("enqueue", enqueueBulk) }),
  route("/jobs/count", { GET: needs("read", countJobs) }),
  route(TAKE_PATH, { GET: needs("work", take) }),
  route(EVENTS_PATH, { GET: needs("read", watchEvents) }),
  route("/workers", { GET: needsEveryQueue("read", listWorkers) }),
  route("/workers/{worker}/report", { PUT: needs("work", reportWorker) }),
  route("/jobs/take/{stream}/close", { POST: needs("work", closeTake) }),
  route("/jobs/success", { POST: needs("work", ackMany) }),
  route("/jobs/{id}", { GET: needs("read", withJobId(getJob)), PATCH: needs("admin", withJobId(patchJob)), DELETE: needs("admin", withJobId(deleteJob)) }),
  route("/jobs/{id}/success", { POST: needs("work", withJobId(ackOne, notInFlightNow)) }),
  route("/jobs/{id}/failure", { POST: needs("work", withJobId(failJob, notInFlightNow)) }),
  route("/jobs/{id}/heartbeat", { POST: needs("work", withJobId(heartbeat, notInFlightNow)) }),
  route("/jobs/{id}/requeue", { POST: needs("admin", withJobId(requeueDead)) }),
  route("/jobs/{id}/cancel", { POST: needs("admin", withJobId(cancelJob)) }),
  route("/jobs/{id}/result", { GET: needs("read", withJobId(getResult)) }),
  route("/jobs/{id}/errors", { GET: needs("read", withJobId(listErrors)) }),
  route("/jobs/{id}/errors/{attempt}", { GET: needs("read", withJobId(getError)) }),
  route("/workflows", { POST: needs("enqueue", createWorkflow) }),
  route("/workflows/{id}", { GET: needs("read", withJobId(getWorkflow, workflowNotFound)), DELETE: needs("admin", withJobId(deleteWorkflow, workflowNotFound)) }),
  route("/crons", { GET: needsEveryQueue("read", listCrons), DELETE: needsEveryQueue("admin", deleteCrons) }),
  route("/crons/{group}", {
    GET: needsEveryQueue("read", withCronNames(getCron)),
    PUT: needsEveryQueue("admin", putCron),
    PATCH: needsEveryQueue("admin", withCronNames(patchCron)),
    DELETE: needsEveryQueue("admin", withCronNames(deleteCron)),
  }),
  route("/crons/{group}/entries", { POST: needsEveryQueue("admin", addCronEntry) }),
  route("/crons/{group}/entries/{entry}", {
    GET: needsEveryQueue("read", withCronNames(getCronEntry)),
    PUT: needsEveryQueue("admin", putCronEntry),
    PATCH: needsEveryQueue("admin", withCronNames(patchCronEntry)),
    DELETE: needsEveryQueue("admin", withCronNames(deleteCronEntry)),
  }),
];

/** A route of `path`, where each `{name}` is one path segment. */
function route(path: string, methods: Record<string, Endpoint>): Route {
  return { path, pattern: new RegExp(`^${path.replace(/\{\w+\}/g, "([^/]+)")}$`), methods };
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`path segment "${segment}" is not valid percent-encoding`);
  }
}

/** A request matched to its endpoint, before its body is read: what it needs of its caller, and how it runs. */
export interface RoutedRequest {
  access: Access;
  /** Runs the endpoint for `identity` (undefined: a caller that may do anything, as in-process clients). */
  run(engine: Engine, identity: Identity | undefined, request: ApiRequest): Promise<ApiResponse>;
}

/** The endpoint of `method path`: 404 for a path no route has, 405 for a method its route has not. */
export function findRoute(method: string, path: string): RoutedRequest {
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    const endpoint = route.methods[method];
    if (!endpoint) throw new MethodNotAllowedError(`${method} is not allowed on ${path} (allowed: ${Object.keys(route.methods).join(", ")})`);
    const pathParams = match.slice(1).map(decodePathSegment);
    return { access: endpoint, run: (engine, identity, request) => endpoint.run(engine, identity, request, pathParams) };
  }
  throw new NotFoundError(`no route for ${method} ${path}`);
}

/** The API for a caller that may do anything: in-process clients. */
export function handleApi(engine: Engine, request: ApiRequest): Promise<ApiResponse> {
  return findRoute(request.method, request.path).run(engine, undefined, request);
}
