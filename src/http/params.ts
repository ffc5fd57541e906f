import { BadRequestError } from "../errors.js";
import { compilePayloadFilter, type FilterBudget } from "../engine/payload-filter.js";
import type { JobSelection } from "../engine/scan.js";
import { JOB_STATUSES, type JobStatus } from "../job/types.js";
import type { NumberRange, SortOrder } from "../store/store.js";

/** Query parameters, checked against the names an endpoint accepts: an unknown name is a 400. */
export class QueryParams {
  constructor(private readonly params: URLSearchParams, allowed: readonly string[], endpoint: string) {
    for (const name of params.keys()) {
      if (!allowed.includes(name)) {
        const accepted = allowed.length > 0 ? ` (accepted: ${allowed.join(", ")})` : "";
        throw new BadRequestError(`unknown query parameter "${name}" for ${endpoint}${accepted}`);
      }
    }
  }

  get(name: string): string | undefined {
    const values = this.params.getAll(name);
    if (values.length > 1) throw new BadRequestError(`query parameter "${name}" given more than once`);
    // No queue, type, id or cursor holds a NUL, and PostgreSQL refuses it in text: a 400, not a store error.
    if (values[0]?.includes("\0")) throw new BadRequestError(`query parameter "${name}" must not contain NUL characters`);
    return values[0];
  }

  list(name: string): string[] | undefined {
    const raw = this.get(name);
    if (raw === undefined) return undefined;
    const items = raw.split(",").map((item) => item.trim());
    if (items.some((item) => item.length === 0)) throw new BadRequestError(`${name} has an empty entry: "${raw}"`);
    return items;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const raw = this.get(name);
    if (raw === undefined) return undefined;
    const value = parseInteger(raw, name);
    if (value < min || value > max) throw new BadRequestError(`${name} must be between ${min} and ${max}, got ${raw}`);
    return value;
  }

  range(name: string): NumberRange | undefined {
    const raw = this.get(name);
    return raw === undefined ? undefined : parseRange(raw, name);
  }
}

/** A safe integer written in decimal, or BadRequestError naming `name`. */
export function parseInteger(raw: string, name: string): number {
  if (!/^-?\d+$/.test(raw.trim())) throw new BadRequestError(`${name} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new BadRequestError(`${name} is out of range: ${raw}`);
  return value;
}

/** `N`, `A..B`, `..B` or `A..`, inclusive at both ends. */
function parseRange(raw: string, name: string): NumberRange {
  const separator = raw.indexOf("..");
  if (separator < 0) {
    const exact = parseInteger(raw, name);
    return { min: exact, max: exact };
  }
  const lower = raw.slice(0, separator);
  const upper = raw.slice(separator + 2);
  if (lower === "" && upper === "") throw new BadRequestError(`${name} range needs at least one bound, got ".."`);
  const range: NumberRange = {};
  if (lower !== "") range.min = parseInteger(lower, name);
  if (upper !== "") range.max = parseInteger(upper, name);
  if (range.min !== undefined && range.max !== undefined && range.min > range.max) {
    throw new BadRequestError(`${name} range lower bound ${range.min} exceeds upper bound ${range.max}`);
  }
  return range;
}

export const SELECTION_PARAMS = ["id", "queue", "type", "status", "correlation_id", "priority", "ready_at", "attempts", "filter"] as const;
export const PAGE_PARAMS = ["from", "order", "limit"] as const;

export async function readSelection(params: QueryParams, budget: FilterBudget): Promise<JobSelection> {
  const statuses = params.list("status");
  for (const status of statuses ?? []) {
    if (!JOB_STATUSES.includes(status as JobStatus)) {
      throw new BadRequestError(`status "${status}" is not one of ${JOB_STATUSES.join(", ")}`);
    }
  }
  const selection: JobSelection = {
    query: {
      ids: params.list("id"),
      queues: params.list("queue"),
      types: params.list("type"),
      statuses: statuses as JobStatus[] | undefined,
      correlationIds: params.list("correlation_id"),
      priority: params.range("priority"),
      ready_at: params.range("ready_at"),
      attempts: params.range("attempts"),
    },
  };
  const filter = params.get("filter");
  if (filter !== undefined) selection.filter = await compilePayloadFilter(filter, budget);
  return selection;
}

export interface PageParams {
  from: string | undefined;
  order: SortOrder;
  limit: number;
}

export function readPage(params: QueryParams, maxLimit: number, defaultLimit: number): PageParams {
  const order = params.get("order") ?? "asc";
  if (order !== "asc" && order !== "desc") throw new BadRequestError(`order must be asc or desc, got "${order}"`);
  const from = params.get("from");
  if (from === "") throw new BadRequestError("from must not be empty");
  return { from, order, limit: params.integer("limit", 1, maxLimit) ?? defaultLimit };
}

/** A page link: the path plus the page and selection parameters, in a stable order. */
function pageLink(path: string, page: PageParams, from: string | undefined, order: SortOrder, raw: URLSearchParams): string {
  const parts: string[] = [];
  if (from !== undefined) parts.push(`from=${encodeURIComponent(from)}`);
  parts.push(`order=${order}`, `limit=${page.limit}`);
  for (const name of SELECTION_PARAMS) {
    const value = raw.get(name);
    if (value !== null) parts.push(`${name}=${encodeURIComponent(value)}`);
  }
  return `${path}?${parts.join("&")}`;
}

export interface PageLinks {
  self: string;
  next: string | null;
  prev: string | null;
}

/** self, next (after the last item, when more match) and prev (before the first, when this page was reached by a cursor). */
export function pageLinks(path: string, page: PageParams, first: string | undefined, last: string | undefined, more: boolean, raw: URLSearchParams): PageLinks {
  const reverse = page.order === "asc" ? "desc" : "asc";
  return {
    self: pageLink(path, page, page.from, page.order, raw),
    next: more && last !== undefined ? pageLink(path, page, last, page.order, raw) : null,
    prev: page.from !== undefined && first !== undefined ? pageLink(path, page, first, reverse, raw) : null,
  };
}
