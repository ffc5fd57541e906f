/** WHERE clauses from a JobQuery, and the listing and counting statements built on them, for any SQL dialect; shared by the SQL stores. */
import { JOB_COLUMNS } from "./rows.js";
import type { JobQuery, NumberRange, PageRequest } from "./store.js";

export type SqlValue = string | number | null | ReadonlyArray<string | number | null>;

/** What a parameter holds, for dialects that type their placeholders. */
export type ParamType = "text" | "integer" | "text-list";

/** The parts of a WHERE clause that differ between SQL dialects. */
export interface WhereDialect {
  /** The placeholder for the parameter at 1-based `position`. */
  placeholder(position: number, type: ParamType): string;
  /** A condition: `column` is one of the strings in the list parameter behind `placeholder`. */
  inList(column: string, placeholder: string): string;
  /** How a list of strings travels as one parameter. */
  listValue(values: readonly string[]): SqlValue;
}

type Comparison = "=" | "<" | ">" | "<=" | ">=";

/**
 * Collects conditions and their parameters in order, so a statement built as
 * `SELECT ... ${where.sql} LIMIT ${where.param(n, "integer")}` binds `where.params` positionally.
 */
export class WhereBuilder {
  readonly params: SqlValue[] = [];
  private readonly conditions: string[] = [];

  constructor(private readonly dialect: WhereDialect) {}

  /** Adds a parameter and returns its placeholder. */
  param(value: SqlValue, type: ParamType): string {
    this.params.push(value);
    return this.dialect.placeholder(this.params.length, type);
  }

  compare(column: string, comparison: Comparison, value: string | number): this {
    const type = typeof value === "number" ? "integer" : "text";
    this.conditions.push(`${column} ${comparison} ${this.param(value, type)}`);
    return this;
  }

  /** Adds the conditions of `query` (none when it is undefined). */
  matching(query: JobQuery | undefined): this {
    if (!query) return this;
    this.list("id", query.ids).list("queue", query.queues).list("type", query.types).list("status", query.statuses).list("correlation_id", query.correlationIds);
    return this.range("priority", query.priority).range("ready_at", query.ready_at).range("attempts", query.attempts);
  }

  /** "WHERE ..." or "" when there are no conditions. */
  get sql(): string {
    return this.conditions.length > 0 ? `WHERE ${this.conditions.join(" AND ")}` : "";
  }

  /**
   * One value is an equality: an index on (column, id) then yields rows in id order, where a list
   * makes the database sort every matching row for each page (SQLite's IN over json_each does).
   */
  private list(column: string, values: readonly string[] | undefined): this {
    if (values === undefined) return this;
    if (values.length === 1) return this.compare(column, "=", values[0]!);
    this.conditions.push(this.dialect.inList(column, this.param(this.dialect.listValue(values), "text-list")));
    return this;
  }

  private range(column: string, range: NumberRange | undefined): this {
    if (range?.min !== undefined) this.compare(column, ">=", range.min);
    if (range?.max !== undefined) this.compare(column, "<=", range.max);
    return this;
  }
}

/** A statement and its positional parameters. */
export interface BuiltQuery {
  sql: string;
  params: SqlValue[];
}

/** One page of the jobs `query` matches, in id order, after the page's cursor. */
export function listJobsQuery(dialect: WhereDialect, query: JobQuery, page: PageRequest, columns = JOB_COLUMNS): BuiltQuery {
  const where = new WhereBuilder(dialect).matching(query);
  if (page.after !== undefined) where.compare("id", page.order === "asc" ? ">" : "<", page.after);
  const limit = where.param(page.limit, "integer");
  return { sql: `SELECT ${columns} FROM jobs ${where.sql} ORDER BY id ${page.order === "asc" ? "ASC" : "DESC"} LIMIT ${limit}`, params: where.params };
}

export function countJobsQuery(dialect: WhereDialect, query: JobQuery): BuiltQuery {
  const where = new WhereBuilder(dialect).matching(query);
  return { sql: `SELECT count(*) AS count FROM jobs ${where.sql}`, params: where.params };
}
