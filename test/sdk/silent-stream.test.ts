/**
 * A take stream over HTTP whose connection goes silent without closing (a dead network path, a
 * frozen middlebox) is found out by the missing heartbeats: the Worker reconnects and goes on. A
 * loopback TCP proxy between the SDK and a real server stops forwarding the take stream's bytes on
 * demand; the server beats every 50 ms and the client gives up after 300 ms of silence.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import { connect, Worker } from "../../src/index.js";
import { eventually, startTestServer, uniqueName } from "../helpers/server.js";
import { cleanups } from "../helpers/transports.js";

interface Relay {
  client: net.Socket;
  upstream: net.Socket;
  isTake: boolean;
  silent: boolean;
}

/** Forwards loopback TCP to `target`; `silence()` stops the take streams open now from passing any byte, either way. */
async function startProxy(target: URL): Promise<{ url: string; takeStreamsOpened: () => number; silence: () => void; close: () => Promise<void> }> {
  const relays = new Set<Relay>();
  let takeStreamsOpened = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const relay: Relay = { client, upstream, isTake: false, silent: false };
    relays.add(relay);
    client.on("data", (chunk: Buffer) => {
      if (!relay.isTake && chunk.toString("latin1").startsWith("GET /jobs/take")) {
        relay.isTake = true;
        takeStreamsOpened++;
      }
      if (!relay.silent) upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!relay.silent) client.write(chunk);
    });
    // Closes still pass, so the server takes back what a silenced stream held once the client gives up on it.
    const end = (): void => {
      relays.delete(relay);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    takeStreamsOpened: () => takeStreamsOpened,
    silence: () => {
      for (const relay of relays) if (relay.isTake) relay.silent = true;
    },
    close: async () => {
      for (const relay of relays) relay.client.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("take streams over HTTP", () => {
  test("a stream that goes silent without closing is dropped after idleTimeoutMs, and the Worker reconnects and goes on", async (t) => {
    const defer = cleanups(t);
    const server = await startTestServer({ heartbeatMs: 50 });
    defer(() => server.close());
    const proxy = await startProxy(new URL(server.url));
    defer(() => proxy.close());
    const client = connect(proxy.url, { idleTimeoutMs: 300 });
    defer(() => client.close());
    const queue = uniqueName("silent");
    const handled: number[] = [];
    const troubles: string[] = [];
    const worker = new Worker(client, { queues: [queue], reconnectMinMs: 10, reconnectMaxMs: 20, handlers: { t: (job) => void handled.push((job.payload as { n: number }).n) } });
    worker.on("error", (error) => troubles.push(String(error)));
    defer(() => worker.stop());
    worker.start();
    await client.enqueue({ queue, type: "t", payload: { n: 1 } });
    await eventually(() => handled.length === 1, 3000, "the first job");

    // Quiet but alive: heartbeats keep the stream open well past the idle timeout.
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.deepEqual(troubles, [], "heartbeats count as traffic");
    assert.equal(proxy.takeStreamsOpened(), 1);

    proxy.silence();
    await eventually(() => troubles.length > 0, 3000, "the worker to notice the silence");
    assert.match(troubles[0]!, /no job or heartbeat on the take stream within 300 ms/);
    await eventually(() => proxy.takeStreamsOpened() === 2, 3000, "a new stream to open");
    await client.enqueue({ queue, type: "t", payload: { n: 2 } });
    await eventually(() => handled.length === 2, 3000, "the job enqueued after the reconnect");
    assert.deepEqual(handled, [1, 2]);
    assert.equal(troubles.length, 1, "one broken stream, one reconnect");
  });
});
