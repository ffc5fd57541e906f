/**
 * Runs a command with a throwaway PostgreSQL cluster around it:
 *
 *   node --import tsx test/postgres-env.ts -- CMD ARGS...
 *
 * CMD sees WHARF_TEST_POSTGRES_URL (the cluster's `postgres` database), so
 * every test file shares one cluster. The exit code is CMD's; the cluster is
 * removed however CMD ends, also when this process gets SIGINT or SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { startPostgres } from "./helpers/postgres.js";

const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM"] as const;

function commandLine(): [string, string[]] {
  const args = process.argv.slice(2);
  const [command, ...rest] = args[0] === "--" ? args.slice(1) : args;
  if (command === undefined) {
    console.error("usage: node --import tsx test/postgres-env.ts -- CMD [ARGS...]");
    process.exit(2);
  }
  return [command, rest];
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal === null ? 1 : constants.signals[signal]);
}

function runToExit(child: ChildProcess, command: string): Promise<number> {
  return new Promise<number>((resolve) => {
    child.once("error", (error) => {
      console.error(`could not run ${command}: ${error.message}`);
      resolve(127);
    });
    child.once("exit", (code, signal) => resolve(exitCodeOf(code, signal)));
  });
}

async function main(): Promise<number> {
  const [command, args] = commandLine();
  let child: ChildProcess | undefined;
  let interrupted: NodeJS.Signals | undefined;
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, () => {
      interrupted = signal;
      child?.kill(signal);
    });
  }
  const cluster = await startPostgres();
  try {
    if (interrupted !== undefined) return exitCodeOf(null, interrupted);
    child = spawn(command, args, { stdio: "inherit", env: { ...process.env, WHARF_TEST_POSTGRES_URL: cluster.url } });
    return await runToExit(child, command);
  } finally {
    await cluster.stop();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
}
