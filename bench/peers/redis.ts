/** A throwaway redis-server on a free loopback port, without persistence, for the peers that need Redis. */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../../test/helpers/postgres.js";
import { exitWithin, forgetTempDir, track, trackTempDir } from "../children.js";

const REDIS_SERVER = "/usr/bin/redis-server";
const START_TIMEOUT_MS = 10_000;

export interface RedisServer {
  url: string;
  pid: number;
  version: string;
  /** FLUSHALL: every workload starts on an empty Redis. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Installs the Debian package when redis-server is missing and we are root; otherwise says what to do. */
function ensureRedisInstalled(): void {
  if (existsSync(REDIS_SERVER)) return;
  if (process.getuid?.() !== 0) throw new Error(`${REDIS_SERVER} not found: install the redis-server package (apt-get install redis-server) or run as root so the bench installs it`);
  console.log("redis-server missing: installing the Debian package redis-server");
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "redis-server"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (!existsSync(REDIS_SERVER)) throw new Error(`apt-get install redis-server did not provide ${REDIS_SERVER}`);
}

/** A client that tries once per command, so a server still starting is an error to retry, not a queue. */
function client(port: number): Redis {
  const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // connect() and each command reject with the error too; the event alone would be reported as unhandled.
  redis.on("error", () => {});
  return redis;
}

async function once<T>(port: number, run: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = client(port);
  try {
    await redis.connect();
    return await run(redis);
  } finally {
    redis.disconnect();
  }
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await once(port, (redis) => redis.ping());
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export async function startRedis(): Promise<RedisServer> {
  ensureRedisInstalled();
  const dir = await mkdtemp(join(tmpdir(), "wharf-redis-"));
  trackTempDir(dir);
  const port = await freePort();
  const child = track(spawn(REDIS_SERVER, ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" }));
  const url = `redis://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    child.kill("SIGTERM");
    await exitWithin(child, 5_000);
    await rm(dir, { recursive: true, force: true });
    forgetTempDir(dir);
  };
  try {
    await waitForPing(port, START_TIMEOUT_MS);
    const version = /v=(\S+)/.exec(execFileSync(REDIS_SERVER, ["--version"], { encoding: "utf8" }))?.[1] ?? "unknown";
    return { url, pid: child.pid!, version, flush: async () => void (await once(port, (redis) => redis.flushall())), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
