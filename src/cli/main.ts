#!/usr/bin/env node
import { CommanderError } from "commander";
import { ServerUnreachableError, StoreInUseError, UnauthorizedError, WharfError } from "../errors.js";
import { Declined } from "./confirm.js";
import { buildProgram } from "./program.js";
import { asUsageError, UsageError } from "./usage.js";

/** Exit codes: 0 done, 1 the server, the connection or the store failed (or a question was answered no), 2 bad usage. */
function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof UsageError) {
    process.stderr.write(`wharf: ${error.message}\n(add --help for usage)\n`);
    return 2;
  }
  if (error instanceof Declined || error instanceof ServerUnreachableError || error instanceof StoreInUseError) {
    process.stderr.write(`wharf: ${error.message}\n`);
    return 1;
  }
  if (error instanceof UnauthorizedError) {
    process.stderr.write(`wharf: ${error.message} (HTTP 401): give a token with --token or WHARF_TOKEN\n`);
    return 1;
  }
  if (error instanceof WharfError) {
    process.stderr.write(`wharf: ${error.message} (HTTP ${error.status})\n`);
    return 1;
  }
  process.stderr.write(`wharf: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

// A reader that stops early (`wharf jobs list | head -1`) is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  process.stderr.write(`wharf: cannot write output: ${error.message}\n`);
  process.exit(1);
});

const argv = process.argv.slice(2);
try {
  await buildProgram().parseAsync(argv.length === 0 ? ["--help"] : argv, { from: "user" });
} catch (error) {
  const code = exitCodeOf(asUsageError(error));
  if (code !== 0) process.exit(code);
}
