import { ConflictError, UnavailableError, WharfError } from "../errors.js";

/**
 * What a caller sees when the store could not do something: Wharf errors pass
 * through, anything else (a driver or database error) becomes a retryable
 * 503, so the HTTP layer answers instead of crashing.
 */
export function storeFailure(error: unknown, doing: string): WharfError {
  if (error instanceof WharfError) return error;
  if (takesAnExistingId(error)) return new ConflictError("a job with this id was enqueued at the same time; send the enqueue again to get it");
  return new UnavailableError(`${doing} failed: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * A job inserted under an id another job has (signed jobs name their own): the primary key's
 * violation, as better-sqlite3 and PostgreSQL report it.
 */
function takesAnExistingId(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, constraint, message } = error as { code?: unknown; constraint?: unknown; message?: unknown };
  return (code === "SQLITE_CONSTRAINT_PRIMARYKEY" && String(message).endsWith("jobs.id")) || (code === "23505" && constraint === "jobs_pkey");
}
