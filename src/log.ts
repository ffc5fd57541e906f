/**
 * Wharf's logs: JSON lines with `time` and `level`, through pino. Wharf accepts any logger with the
 * few methods below, which a pino logger (or a child of one) has, so an application can pass its own.
 */
import { pino } from "pino";
import { BadRequestError } from "./errors.js";
import { LOG_LEVELS, type LogLevel } from "./log-level.js";

/** Fields of one log line besides its message. */
export type LogFields = Record<string, unknown>;

/** The logger Wharf writes to: a pino logger satisfies it. */
export interface Logger {
  error(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  debug(fields: LogFields, message: string): void;
  isLevelEnabled(level: LogLevel): boolean;
}

/** Where log lines go: a writable stream, or anything with `write`. */
export interface LogDestination {
  write(line: string): unknown;
}

export interface LoggerOptions {
  /** Least severe level written; default "info". */
  level?: LogLevel;
  /** Default: standard output, written synchronously so no line is lost when the process exits. */
  destination?: LogDestination | "stdout" | "stderr";
}

/**
 * A logger writing JSON lines: `{"level":"info","time":"2026-…Z","pid":…,"hostname":…,"msg":…}`.
 * Throws BadRequestError for a level that is not one of LOG_LEVELS (a caller without types).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = "info", destination = "stdout" } = options;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new BadRequestError(`logLevel must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(level)}`);
  const stream = typeof destination === "string" ? pino.destination({ dest: destination === "stdout" ? 1 : 2, sync: true }) : destination;
  return pino({
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    // Level names rather than pino's numbers: `grep '"level":"error"'` works.
    formatters: { level: (label) => ({ level: label }) },
  }, stream);
}

/** The message of what was thrown, for a log line. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
