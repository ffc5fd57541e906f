/** `wharf tail`: the server's events as JSON lines off a terminal, filtered, stopping after --count; a bad --kind is exit 2. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cliAgainstTestServer, failed, ok } from "../helpers/cli.js";
import { api, uniqueName } from "../helpers/server.js";

describe("wharf tail", () => {
  const cli = cliAgainstTestServer();

  test("prints the events of its filter as JSON lines and stops after --count", async () => {
    const queue = uniqueName("tailed");
    const tailing = cli.wharf("tail", "--queue", queue, "--kind", "job.enqueued", "--count", "2");
    let finished = false;
    void tailing.finally(() => (finished = true));
    const enqueued: string[] = [];
    // The tail watches once its request reaches the server: enqueue until it has printed two events.
    for (let round = 0; round < 100 && !finished; round++) {
      await api(cli.url, "POST", "/jobs", { body: { queue: uniqueName("other"), type: "t", payload: 0 } });
      enqueued.push((await api(cli.url, "POST", "/jobs", { body: { queue, type: "t", payload: round } })).body.id as string);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const lines = ok(await tailing);
    assert.equal(lines.length, 2);
    for (const line of lines) {
      assert.equal(line.schema, "wharf.event.v1");
      assert.equal(line.kind, "job.enqueued");
      assert.equal(line.queue, queue);
      assert.ok(enqueued.includes((line.job as { id: string }).id));
    }
  });

  test("an unknown --kind is a usage error", async () => {
    failed(await cli.wharf("tail", "--kind", "job.exploded"), 2, /--kind: unknown event kind "job\.exploded"/);
  });
});
