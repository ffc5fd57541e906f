import { setTimeout as sleep } from "node:timers/promises";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/engine/clock.js";
import { startServer, type ServerOptions, type WharfServer } from "../../src/http/server.js";
import { packr } from "../../src/http/codec.js";
import { createDatabase } from "./postgres.js";
import { createLogger } from "../../src/log.js";

export interface TestServer {
  url: string;
  server: WharfServer;
  clock: ManualClock;
  dataDir: string;
  /** The PostgreSQL database's URL on that store; undefined on SQLite (the store is `<dataDir>/wharf.db`). */
  store: string | undefined;
  /** Stops the server (the data dir stays, so a restart can reopen it). */
  stop(): Promise<void>;
  /** Stops the server and removes its data dir. */
  close(): Promise<void>;
}

export function tempDir(prefix = "wharf-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Test servers log failures only, on stderr: a test that reads the log passes a logger of its own. */
export const quietLogger = createLogger({ level: "error", destination: "stderr" });

/** The store the black-box suites run on: SQLite by default, PostgreSQL when WHARF_TEST_STORE=postgres. */
export const TEST_STORE = process.env.WHARF_TEST_STORE === "postgres" ? "postgres" : "sqlite";

/** One PostgreSQL database per data dir, so a server restarted on the same dir finds its jobs again. */
const databasesByDataDir = new Map<string, Promise<string>>();

function postgresFor(dataDir: string): Promise<string> {
  const clusterUrl = process.env.WHARF_TEST_POSTGRES_URL;
  if (!clusterUrl) throw new Error("WHARF_TEST_STORE=postgres needs WHARF_TEST_POSTGRES_URL (run the tests through test/postgres-env.ts)");
  let database = databasesByDataDir.get(dataDir);
  if (!database) {
    database = createDatabase(clusterUrl);
    databasesByDataDir.set(dataDir, database);
  }
  return database;
}

/** A real server on a free loopback port, on its own store (see TEST_STORE), driven by a ManualClock. */
export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDir();
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock(Date.now());
  const store = options.store ?? (TEST_STORE === "postgres" ? await postgresFor(dataDir) : undefined);
  const server = await startServer({ host: "127.0.0.1", port: 0, durability: "buffered", logger: quietLogger, ...options, dataDir, clock, store });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.close();
  };
  return {
    url: server.url,
    server,
    clock,
    dataDir,
    store,
    stop,
    async close() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Format = "json" | "msgpack";

export interface ApiCall {
  body?: unknown;
  /** Encoding of the request body and of the requested response. */
  format?: Format;
  headers?: Record<string, string>;
  /** Raw bytes to send as the body instead of encoding `body`. */
  raw?: Buffer | string;
  /** Gives up (rejects) after this long; no limit by default. */
  timeoutMs?: number;
}

export interface ApiResult {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index freely into decoded bodies
  body: any;
}

const MEDIA = { json: "application/json", msgpack: "application/msgpack" } as const;

/** One HTTP request to the server; the response body is decoded by its Content-Type. */
export async function api(baseUrl: string, method: string, path: string, call: ApiCall = {}): Promise<ApiResult> {
  const format = call.format ?? "json";
  const headers: Record<string, string> = { accept: MEDIA[format], ...call.headers };
  let body: Buffer | string | undefined = call.raw;
  if (body === undefined && call.body !== undefined) {
    body = format === "json" ? JSON.stringify(call.body) : packr.pack(call.body);
  }
  if (body !== undefined && headers["content-type"] === undefined) headers["content-type"] = MEDIA[format];
  const signal = call.timeoutMs === undefined ? undefined : AbortSignal.timeout(call.timeoutMs);
  const response = await fetch(baseUrl + path, { method, headers, body, signal });
  const bytes = Buffer.from(await response.arrayBuffer());
  const type = response.headers.get("content-type") ?? "";
  let decoded: unknown = undefined;
  if (bytes.length > 0) {
    if (type.startsWith("application/msgpack")) decoded = packr.unpack(bytes);
    else if (type.startsWith("application/json")) decoded = JSON.parse(bytes.toString("utf8"));
    else decoded = bytes.toString("utf8");
  }
  return { status: response.status, headers: response.headers, body: decoded };
}

export interface PollOptions {
  /** Time between checks (default 10 ms). */
  intervalMs?: number;
  /** How far things got, for the timeout's message. */
  progress?: () => string;
}

type NotYet = undefined | false;

/**
 * Polls `check` until it returns something other than undefined or false, and returns that; fails
 * after `timeoutMs`, saying what was awaited (and, with `progress`, how far it got).
 */
export async function eventually<T>(
  check: () => Promise<T | NotYet> | T | NotYet,
  timeoutMs = 5000,
  what = "condition",
  { intervalMs = 10, progress }: PollOptions = {},
): Promise<Exclude<T, NotYet>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as Exclude<T, NotYet>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${progress ? ` (${progress()})` : ""}`);
    await sleep(intervalMs);
  }
}

/** Random names keep tests independent even when they share a server. */
export function uniqueName(prefix = "q"): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}
