/** Background work (dispatch, promotion, maintenance) has no caller to throw to: it reports failures as JSON log lines on stderr. */
export function logFailure(what: string, error: unknown): void {
  console.error(JSON.stringify({ level: "error", msg: `${what} failed`, error: error instanceof Error ? error.message : String(error) }));
}
