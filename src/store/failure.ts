import { UnavailableError, WharfError } from "../errors.js";

/**
 * What a caller sees when the store could not do something: Wharf errors pass
 * through, anything else (a driver or database error) becomes a retryable
 * 503, so the HTTP layer answers instead of crashing.
 */
export function storeFailure(error: unknown, doing: string): WharfError {
  if (error instanceof WharfError) return error;
  return new UnavailableError(`${doing} failed: ${error instanceof Error ? error.message : String(error)}`);
}
