import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Migration {
  version: number;
  sql: string;
}

/** The numbered migrations in `dir` (files named like 001_name.sql), in version order. */
export function readMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((name) => /^\d+_.*\.sql$/.test(name))
    .sort()
    .map((name) => ({ version: Number.parseInt(name, 10), sql: readFileSync(join(dir, name), "utf8") }));
}

/** The migrations in `dir` that are not in `applied`, in version order. */
export function pendingMigrations(dir: string, applied: Iterable<number>): Migration[] {
  const done = new Set(applied);
  return readMigrations(dir).filter(({ version }) => !done.has(version));
}
