/** A throwaway redis-server on a free loopback port, without persistence, for the peers that need Redis. */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
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

/** Sends one command without arguments (RESP) and resolves with the first reply line; rejects on an error reply. */
function command(port: number, name: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`redis ${name}: no reply within ${timeoutMs} ms`)));
    socket.once("error", fail);
    socket.on("data", (chunk) => {
      reply += chunk.toString("utf8");
      const end = reply.indexOf("\r\n");
      if (end < 0) return;
      socket.end();
      if (reply.startsWith("-")) reject(new Error(`redis ${name}: ${reply.slice(1, end)}`));
      else resolve(reply.slice(0, end));
    });
    socket.write(`*1\r\n$${name.length}\r\n${name}\r\n`);
  });
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await command(port, "PING");
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
    return { url, pid: child.pid!, version, flush: async () => void (await command(port, "FLUSHALL")), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
