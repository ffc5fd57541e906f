/** How much the server (or an SDK logger Wharf makes) logs, from nothing to everything. */
export const LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
