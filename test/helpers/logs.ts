/** Loggers whose JSON lines a test reads back. */
import { createLogger, type Logger } from "../../src/log.js";
import type { LogLevel } from "../../src/log-level.js";

export interface LogLine {
  level: string;
  time: string;
  msg: string;
  [field: string]: unknown;
}

/** A logger at `level` whose lines the test reads back, parsed. */
export function recordingLogger(level: LogLevel): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => lines.push(JSON.parse(line) as LogLine) } });
  return { logger, lines };
}

export function withMessage(lines: LogLine[], msg: string): LogLine[] {
  return lines.filter((line) => line.msg === msg);
}
