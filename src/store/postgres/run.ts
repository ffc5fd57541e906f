/** How the PostgreSQL store's code runs statements: on its pool, in one of its transactions, or on a caller's client. */
import pg from "pg";
import type { ColumnValue } from "../rows.js";

export type Row = pg.QueryResultRow;

/** Runs one statement and returns its rows; inside a transaction when the caller needs several to be atomic. */
export type Run = <R extends Row>(text: string, values?: unknown[]) => Promise<R[]>;

export interface Statement {
  text: string;
  values: unknown[];
}

/** Rows come back in the shape src/store/rows.ts maps: int8 as numbers (epoch ms fit), JSONB as JSON text. */
export const ROW_TYPES = new pg.TypeOverrides();
ROW_TYPES.setTypeParser(pg.types.builtins.INT8, Number);
ROW_TYPES.setTypeParser(pg.types.builtins.JSONB, (text: string) => text);

/** A Run on `client` that parses rows with ROW_TYPES, whatever type parsers the client itself was set up with. */
export function runOn(client: pg.ClientBase): Run {
  return async <R extends Row>(text: string, values: unknown[] = []) => (await client.query<R>({ text, values, types: ROW_TYPES })).rows;
}

/** One array per column: `rows` as the column-wise parameters of an unnest statement. */
export function columnArrays<C extends string>(rows: ReadonlyArray<Record<C, ColumnValue>>, columns: readonly C[]): ColumnValue[][] {
  return columns.map((column) => rows.map((row) => row[column]));
}

/** The same for rows of positional values, `width` columns each. */
export function valueArrays(rows: ReadonlyArray<readonly ColumnValue[]>, width: number): ColumnValue[][] {
  return Array.from({ length: width }, (_, column) => rows.map((row) => row[column] as ColumnValue));
}
