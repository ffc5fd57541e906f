/**
 * Throwaway PostgreSQL 15 clusters for tests: initdb into a temp dir, start on
 * a free loopback port, and on stop kill the server and remove the dir. Test
 * files share one cluster (see test/postgres-env.ts) and isolate themselves by
 * database (createDatabase).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

export const POSTGRES_BIN = "/usr/lib/postgresql/15/bin";
const START_ATTEMPTS = 3;

export interface PostgresCluster {
  /** Connection URL of the `postgres` database, as the superuser `postgres` (trust auth). */
  url: string;
  /** Stops the server (`pg_ctl -m fast`: connections are terminated), waits `downMs`, and starts it again on the same port and data. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Runs the binaries as the postgres user when we are root (initdb refuses root), directly otherwise. */
function asPostgresUser(binary: string, args: string[]): [string, string[]] {
  const path = join(POSTGRES_BIN, binary);
  const isRoot = process.getuid?.() === 0;
  return isRoot ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
}

async function runAsPostgres(binary: string, args: string[], cwd: string): Promise<void> {
  const [command, argv] = asPostgresUser(binary, args);
  try {
    await run(command, argv, { cwd });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${binary} ${args[0] ?? ""} failed: ${stderr || stdout || (error as Error).message}`, { cause: error });
  }
}

/** Asks the kernel for a free loopback port (a small race remains until postgres binds it; start retries). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("could not find a free port");
  return address.port;
}

function makeClusterDir(): string {
  if (!existsSync(join(POSTGRES_BIN, "initdb"))) {
    throw new Error(`PostgreSQL 15 binaries not found in ${POSTGRES_BIN}: install the postgresql-15 package (apt-get install postgresql-15)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "wharf-pg-"));
  mkdirSync(join(dir, "sock"));
  if (process.getuid?.() === 0) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
    chownSync(join(dir, "sock"), uid, gid);
  }
  return dir;
}

function postgresIds(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((entry) => entry.startsWith("postgres:"));
  const fields = line?.split(":");
  if (!fields) throw new Error("running as root but there is no postgres user to run PostgreSQL as");
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

export interface PostgresOptions {
  /** fsync, synchronous commit and full-page writes on, as in production (benchmarks); off by default, for fast tests. */
  durable?: boolean;
}

function serverOptions(dir: string, port: number, options: PostgresOptions): string {
  const durability = options.durable ? [] : ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"];
  return ["-c listen_addresses=127.0.0.1", `-p ${port}`, `-k ${join(dir, "sock")}`, ...durability, "-c max_connections=200"].join(" ");
}

async function startOnFreePort(dir: string, data: string, options: PostgresOptions): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await runAsPostgres("pg_ctl", ["start", "-w", "-D", data, "-o", serverOptions(dir, port, options), "-l", join(dir, "log")], dir);
      return port;
    } catch (error) {
      if (attempt >= START_ATTEMPTS) throw new Error(`${(error as Error).message}\n${readLog(dir)}`, { cause: error });
    }
  }
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, "log"), "utf8");
  } catch {
    return "";
  }
}

/** Retries: a server child still exiting after an immediate stop may write into the dir while it is removed. */
function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}

/** The synchronous last resort: a cluster must not outlive the process that started it. */
function stopNow(data: string, dir: string): void {
  const [command, argv] = asPostgresUser("pg_ctl", ["stop", "-m", "immediate", "-D", data]);
  try {
    execFileSync(command, argv, { cwd: dir, stdio: "ignore" });
  } catch {
    // already stopped
  }
  removeDir(dir);
}

/** Starts a fresh PostgreSQL 15 cluster on a free loopback port; `stop` removes it without a trace. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresCluster> {
  const dir = makeClusterDir();
  const data = join(dir, "data");
  const onExit = (): void => stopNow(data, dir);
  process.once("exit", onExit);
  try {
    await runAsPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"], dir);
    const port = await startOnFreePort(dir, data, options);
    let stopped: Promise<void> | undefined;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async restart(downMs = 0) {
        if (stopped) throw new Error("the cluster was stopped");
        await runAsPostgres("pg_ctl", ["stop", "-w", "-m", "fast", "-D", data], dir);
        if (downMs > 0) await sleep(downMs);
        try {
          await runAsPostgres("pg_ctl", ["start", "-w", "-D", data, "-o", serverOptions(dir, port, options), "-l", join(dir, "log")], dir);
        } catch (error) {
          throw new Error(`${(error as Error).message}\n${readLog(dir)}`, { cause: error });
        }
      },
      stop() {
        stopped ??= runAsPostgres("pg_ctl", ["stop", "-m", "immediate", "-D", data], dir)
          .catch(() => undefined)
          .then(() => {
            process.removeListener("exit", onExit);
            removeDir(dir);
          });
        return stopped;
      },
    };
  } catch (error) {
    process.removeListener("exit", onExit);
    stopNow(data, dir);
    throw error;
  }
}

/** Creates an empty database with a random name on the cluster `url` points at, and returns its URL. */
export async function createDatabase(url: string): Promise<string> {
  const name = `wharf_test_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const created = new URL(url);
  created.pathname = `/${name}`;
  return created.toString();
}
