/**
 * The SDK's transports behind one shape, so SDK tests are written once and run
 * over HTTP (JSON and MessagePack) and in-process alike.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { Client, connect, ManualClock, open, type ClientOptions, type Job } from "../../src/index.js";
import { startTestServer, tempDir, type TestServer } from "./server.js";

/** Engine settings every transport accepts (OpenOptions and ServerOptions both extend EngineOptions). */
export interface EngineSettings {
  defaultRetryLimit?: number;
  defaultTimeoutSeconds?: number;
  maintenanceIntervalMs?: number;
  retention?: { completed_ms?: number; dead_ms?: number };
  random?: () => number;
}

export interface Harness {
  /** A client on a fresh engine of its own. */
  client: Client;
  /** The engine's clock: nothing time-driven happens until it is advanced. */
  clock: ManualClock;
  /** The server behind an HTTP transport; undefined in-process. */
  server: TestServer | undefined;
  /** Closes the client and the engine or server, and removes the SQLite file. Safe to call twice. */
  close(): Promise<void>;
}

export interface TransportFactory {
  name: string;
  kind: "http" | "local";
  /** The body encoding of an HTTP transport. */
  format: "json" | "msgpack" | undefined;
  start(settings?: EngineSettings): Promise<Harness>;
}

function httpFactory(format: "json" | "msgpack"): TransportFactory {
  return {
    name: `HTTP ${format === "json" ? "JSON" : "MessagePack"}`,
    kind: "http",
    format,
    async start(settings = {}) {
      const server = await startTestServer(settings);
      const client = connect(server.url, { format });
      let closed = false;
      return {
        client,
        clock: server.clock,
        server,
        async close() {
          if (closed) return;
          closed = true;
          await client.close();
          await server.close();
        },
      };
    },
  };
}

const inProcess: TransportFactory = {
  name: "in-process",
  kind: "local",
  format: undefined,
  async start(settings = {}) {
    const dir = tempDir("wharf-sdk-");
    const clock = new ManualClock(Date.now());
    const client = await open({ ...settings, store: `sqlite:${join(dir, "wharf.db")}`, durability: "buffered", clock });
    let closed = false;
    return {
      client,
      clock,
      server: undefined,
      async close() {
        if (closed) return;
        closed = true;
        try {
          await client.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  },
};

export const TRANSPORTS: readonly TransportFactory[] = [httpFactory("json"), httpFactory("msgpack"), inProcess];

/**
 * Cleanups for one test, run in reverse order of registration when the test
 * ends (whether it passed or not): `defer(() => worker.stop())`.
 */
export function cleanups(t: TestContext): (cleanup: () => unknown) => void {
  const stack: Array<() => unknown> = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const cleanup of stack.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return (cleanup) => {
    stack.push(cleanup);
  };
}

/** Starts a harness for `transport` and closes it when the test ends. */
export async function harness(t: TestContext, transport: TransportFactory, settings?: EngineSettings): Promise<Harness & { defer: (cleanup: () => unknown) => void }> {
  const defer = cleanups(t);
  const started = await transport.start(settings);
  defer(() => started.close());
  return { ...started, defer };
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  /** Settles when the request has been answered (either way). */
  done: Promise<void>;
}

/**
 * A second Client over the same transport that records every request it
 * makes, to see what the SDK sends (for example how the Worker acknowledges).
 * Closing it does nothing: the harness owns the transport. `holdAnswer` may hold a request's answer
 * back (the server has served it) until the promise it returns settles.
 */
export function recordingClient(client: Client, options?: ClientOptions, holdAnswer?: (request: { method: string; path: string }) => Promise<void>): { client: Client; requests: RecordedRequest[] } {
  const inner = client.transport;
  const requests: RecordedRequest[] = [];
  const transport: Client["transport"] = {
    request(method, path, query, body) {
      const served = inner.request(method, path, query, body);
      const held = holdAnswer?.({ method, path });
      const answer = held ? served.then((value) => held.then(() => value)) : served;
      requests.push({ method, path, body, done: answer.then(() => undefined, () => undefined) });
      return answer;
    },
    take: (request) => inner.take(request),
    events: (request) => inner.events(request),
    close: async () => {},
  };
  return { client: new Client(transport, options), requests };
}

/** Resolves after `turns` turns of the event loop: lets already-started asynchronous work settle. */
export async function turns(count = 5): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** A promise with its resolve function outside, to hold handlers until a test lets them go. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** The next job from a take stream, failing the test if none arrives within `timeoutMs`. */
export async function nextJob(iterator: AsyncIterator<Job>, timeoutMs = 3000): Promise<Job> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no job arrived within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    if (result.done) throw new Error("the take stream ended");
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Every item of an async iterable (a paginated listing, say), in order. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}
