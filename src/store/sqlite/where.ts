import type { JobQuery, NumberRange } from "../store.js";

export interface WhereClause {
  sql: string;
  params: Array<string | number>;
}

function addRange(column: string, range: NumberRange | undefined, conditions: string[], params: Array<string | number>): void {
  if (range?.min !== undefined) {
    conditions.push(`${column} >= ?`);
    params.push(range.min);
  }
  if (range?.max !== undefined) {
    conditions.push(`${column} <= ?`);
    params.push(range.max);
  }
}

function addList(column: string, values: readonly string[] | undefined, conditions: string[], params: Array<string | number>): void {
  if (values === undefined) return;
  conditions.push(`${column} IN (SELECT value FROM json_each(?))`);
  params.push(JSON.stringify(values));
}

/** Translates a JobQuery into a WHERE clause ("" when it matches everything). */
export function whereClause(query: JobQuery | undefined, extra: string[] = [], extraParams: Array<string | number> = []): WhereClause {
  const conditions = [...extra];
  const params = [...extraParams];
  if (query) {
    addList("id", query.ids, conditions, params);
    addList("queue", query.queues, conditions, params);
    addList("type", query.types, conditions, params);
    addList("status", query.statuses, conditions, params);
    addRange("priority", query.priority, conditions, params);
    addRange("ready_at", query.ready_at, conditions, params);
    addRange("attempts", query.attempts, conditions, params);
  }
  return { sql: conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "", params };
}
