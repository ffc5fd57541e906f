/**
 * The Zizq-compatible API as a function from request to response, with no
 * sockets in it. The HTTP server and the in-process SDK transport both call
 * `handleApi`, so the two behave alike by construction. Handlers parse, call
 * the engine and shape the answer; the queue logic is the engine's.
 */
import { BadRequestError, MethodNotAllowedError, NotFoundError, UnprocessableError } from "../errors.js";
import type { Engine } from "../engine/engine.js";
import type { TakeOptions } from "../engine/dispatch.js";
import { isJobId } from "../job/ids.js";
import { parseAckList, readBulkJobs, parseEnqueueInput, parseFailure, parseLeaseRequest, parsePatch } from "../job/validate.js";
import { enqueuedView, enqueueStatus, withoutPayload } from "../job/views.js";
import { isCronName, parseCronEntry, parseCronGroup, parseCronPause, readCronName } from "../cron/validate.js";
import { cronEntryView, cronGroupView } from "../cron/views.js";
import { parseQueuePatch } from "../engine/queue-settings.js";
import type { EnqueueInput } from "../job/types.js";
import { mapInSlices } from "../slices.js";
import { VERSION } from "../version.js";
import { PAGE_PARAMS, pageLinks, parseInteger, QueryParams, readPage, readSelection, SELECTION_PARAMS } from "./params.js";

/** The one route that answers with a stream (ApiResponse kind "take"): servers negotiate its format up front. */
export const TAKE_PATH = "/jobs/take";

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  workerId?: string;
}

export type ApiResponse =
  | { kind: "body"; status: number; body?: unknown }
  | { kind: "take"; options: TakeOptions; controls: boolean };

type Handler = (engine: Engine, request: ApiRequest, pathParams: string[]) => Promise<ApiResponse>;

interface Route {
  pattern: RegExp;
  methods: Record<string, Handler>;
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
  return ok({ version: VERSION });
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

const take: Handler = async (_engine, request) => {
  const query = params(request, ["queue", "types", "prefetch", "controls"]);
  const options: TakeOptions = { queues: query.list("queue") ?? [], prefetch: query.integer("prefetch", 0, 2 ** 31 - 1) ?? 1 };
  const types = query.list("types");
  if (types) options.types = types;
  if (request.workerId !== undefined) options.workerId = request.workerId;
  // A Wharf extension: control frames (a cancelled run) go only to clients that ask, so Zizq clients see jobs only.
  const controls = query.get("controls");
  if (controls !== undefined && controls !== "true" && controls !== "false") throw new BadRequestError(`controls must be true or false, got ${JSON.stringify(controls)}`);
  return { kind: "take", options, controls: controls === "true" };
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
  const { runId, value: state } = parseLeaseRequest(request.body, "state");
  return ok(await engine.heartbeat(id!, runId, state));
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

const reset: Handler = async (engine, request) => {
  noParams(request);
  await engine.reset();
  return noContent;
};

// ---- cron groups ----

const listCrons: Handler = async (engine, request) => {
  noParams(request);
  return ok({ crons: await engine.crons.list() });
};

const deleteCrons: Handler = async (engine, request) => {
  noParams(request);
  noBody(request);
  return ok({ deleted: await engine.crons.deleteAll() });
};

const getCron: Handler = async (engine, request, [group]) => {
  noParams(request);
  return ok(cronGroupView(await engine.crons.get(group!)));
};

const putCron: Handler = async (engine, request, [group]) => {
  noParams(request);
  const definition = parseCronGroup(request.body, engine.clock.now());
  return ok(cronGroupView(await engine.crons.put(readCronName(group, "group"), definition)));
};

const patchCron: Handler = async (engine, request, [group]) => {
  noParams(request);
  return ok(cronGroupView(await engine.crons.pause(group!, parseCronPause(request.body))));
};

const deleteCron: Handler = async (engine, request, [group]) => {
  noParams(request);
  await engine.crons.delete(group!);
  return noContent;
};

const addCronEntry: Handler = async (engine, request, [group]) => {
  noParams(request);
  const definition = parseCronEntry(request.body, "", engine.clock.now());
  return ok(cronEntryView(await engine.crons.addEntry(readCronName(group, "group"), definition)), 201);
};

const getCronEntry: Handler = async (engine, request, [group, entry]) => {
  noParams(request);
  return ok(cronEntryView(await engine.crons.getEntry(group!, entry!)));
};

const putCronEntry: Handler = async (engine, request, [group, entry]) => {
  noParams(request);
  const definition = parseCronEntry(request.body, "", engine.clock.now());
  if (definition.name !== entry) throw new BadRequestError(`name ${JSON.stringify(definition.name)} must be the entry's name in the path, ${JSON.stringify(entry)}`);
  return ok(cronEntryView(await engine.crons.putEntry(readCronName(group, "group"), definition)));
};

const patchCronEntry: Handler = async (engine, request, [group, entry]) => {
  noParams(request);
  return ok(cronEntryView(await engine.crons.pauseEntry(group!, entry!, parseCronPause(request.body))));
};

const deleteCronEntry: Handler = async (engine, request, [group, entry]) => {
  noParams(request);
  await engine.crons.deleteEntry(group!, entry!);
  return noContent;
};

const SEGMENT = "([^/]+)";

/**
 * A handler whose first path segment is a job id: one that cannot be a job id (a NUL, a path, another
 * shape) is a 404 here, as an unknown id is, without reaching the store (PostgreSQL refuses NUL in text).
 */
function withJobId(handler: Handler, notFound: (id: string) => string = (id) => `job ${id} not found`): Handler {
  return async (engine, request, pathParams) => {
    const id = pathParams[0]!;
    if (!isJobId(id)) throw new NotFoundError(notFound(JSON.stringify(id).slice(1, -1)));
    return handler(engine, request, pathParams);
  };
}
const notInFlight = (id: string): string => `job ${id} is not in flight`;
const workflowNotFound = (id: string): string => `workflow ${id} not found`;

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
function withCronNames(handler: Handler): Handler {
  return async (engine, request, pathParams) => {
    for (const name of pathParams) {
      if (!isCronName(name)) throw new NotFoundError(`cron group or entry ${JSON.stringify(name).slice(0, 80)} not found`);
    }
    return handler(engine, request, pathParams);
  };
}

const ROUTES: Route[] = [
  { pattern: /^\/health$/, methods: { GET: health } },
  { pattern: /^\/version$/, methods: { GET: version } },
  { pattern: /^\/queues$/, methods: { GET: queues } },
  { pattern: new RegExp(`^/queues/${SEGMENT}$`), methods: { GET: getQueue, PATCH: patchQueue } },
  { pattern: new RegExp(`^/queues/${SEGMENT}/pause$`), methods: { POST: setPaused(true) } },
  { pattern: new RegExp(`^/queues/${SEGMENT}/resume$`), methods: { POST: setPaused(false) } },
  { pattern: /^\/reset$/, methods: { POST: reset } },
  { pattern: /^\/jobs$/, methods: { POST: enqueueOne, GET: listJobs, PATCH: patchJobs, DELETE: deleteJobs } },
  { pattern: /^\/jobs\/bulk$/, methods: { POST: enqueueBulk } },
  { pattern: /^\/jobs\/count$/, methods: { GET: countJobs } },
  { pattern: new RegExp(`^${TAKE_PATH}$`), methods: { GET: take } },
  { pattern: new RegExp(`^/jobs/take/${SEGMENT}/close$`), methods: { POST: closeTake } },
  { pattern: /^\/jobs\/success$/, methods: { POST: ackMany } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}$`), methods: { GET: withJobId(getJob), PATCH: withJobId(patchJob), DELETE: withJobId(deleteJob) } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}/success$`), methods: { POST: withJobId(ackOne, notInFlight) } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}/failure$`), methods: { POST: withJobId(failJob, notInFlight) } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}/heartbeat$`), methods: { POST: withJobId(heartbeat, notInFlight) } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}/requeue$`), methods: { POST: withJobId(requeueDead) } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}/cancel$`), methods: { POST: withJobId(cancelJob) } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}/result$`), methods: { GET: withJobId(getResult) } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}/errors$`), methods: { GET: withJobId(listErrors) } },
  { pattern: new RegExp(`^/jobs/${SEGMENT}/errors/${SEGMENT}$`), methods: { GET: withJobId(getError) } },
  { pattern: /^\/workflows$/, methods: { POST: createWorkflow } },
  { pattern: new RegExp(`^/workflows/${SEGMENT}$`), methods: { GET: withJobId(getWorkflow, workflowNotFound), DELETE: withJobId(deleteWorkflow, workflowNotFound) } },
  { pattern: /^\/crons$/, methods: { GET: listCrons, DELETE: deleteCrons } },
  { pattern: new RegExp(`^/crons/${SEGMENT}$`), methods: { GET: withCronNames(getCron), PUT: putCron, PATCH: withCronNames(patchCron), DELETE: withCronNames(deleteCron) } },
  { pattern: new RegExp(`^/crons/${SEGMENT}/entries$`), methods: { POST: addCronEntry } },
  {
    pattern: new RegExp(`^/crons/${SEGMENT}/entries/${SEGMENT}$`),
    methods: { GET: withCronNames(getCronEntry), PUT: putCronEntry, PATCH: withCronNames(patchCronEntry), DELETE: withCronNames(deleteCronEntry) },
  },
];

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`path segment "${segment}" is not valid percent-encoding`);
  }
}

export async function handleApi(engine: Engine, request: ApiRequest): Promise<ApiResponse> {
  for (const route of ROUTES) {
    const match = route.pattern.exec(request.path);
    if (!match) continue;
    const handler = route.methods[request.method];
    if (!handler) {
      throw new MethodNotAllowedError(`${request.method} is not allowed on ${request.path} (allowed: ${Object.keys(route.methods).join(", ")})`);
    }
    return handler(engine, request, match.slice(1).map(decodePathSegment));
  }
  throw new NotFoundError(`no route for ${request.method} ${request.path}`);
}
