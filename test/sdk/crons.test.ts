/** client.crons on every transport: HTTP with JSON, HTTP with MessagePack, and the in-process engine. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BadRequestError, ConflictError, NotFoundError, type CronEntryDefinition } from "../../src/index.js";
import { uniqueName } from "../helpers/server.js";
import { harness, TRANSPORTS } from "../helpers/transports.js";

for (const transport of TRANSPORTS) {
  describe(`client.crons over ${transport.name}`, () => {
    test("put, get, list, pause and resume, entries one by one, delete; typed errors", async (t) => {
      const { client, clock } = await harness(t, transport, { maintenanceIntervalMs: 3_600_000 });
      const queue = uniqueName();
      const tick: CronEntryDefinition = { name: "tick", expression: "* * * * * *", job: { queue, type: "cron", payload: { big: 2n ** 62n } } };
      const group = await client.crons.put("nightly", { entries: [tick] });
      assert.equal(group.entries[0]!.job.priority, 32768);
      assert.deepEqual(await client.crons.list(), ["nightly"]);
      assert.deepEqual(await client.crons.get("nightly"), group);
      await clock.advance(group.entries[0]!.next_enqueue_at! - clock.now());
      const [job] = await client.listPage({ queue }).then((page) => page.jobs);
      assert.deepEqual(job?.payload, { big: 2n ** 62n });
      assert.equal((await client.crons.getEntry("nightly", "tick")).last_enqueue_at, clock.now());

      assert.equal((await client.crons.pause("nightly")).paused, true);
      assert.equal((await client.crons.resume("nightly")).paused, false);
      assert.equal((await client.crons.pauseEntry("nightly", "tick")).paused, true);
      assert.equal((await client.crons.resumeEntry("nightly", "tick")).paused, false);
      const hourly = await client.crons.addEntry("nightly", { name: "hourly", expression: "0 * * * *", timezone: "Asia/Tokyo", job: { queue, type: "cron", payload: {} } });
      assert.equal(hourly.timezone, "Asia/Tokyo");
      await assert.rejects(client.crons.addEntry("nightly", { ...tick }), ConflictError);
      assert.equal((await client.crons.putEntry("nightly", { ...tick, expression: "*/5 * * * * *" })).expression, "*/5 * * * * *");
      await assert.rejects(client.crons.put("nightly", { entries: [{ ...tick, expression: "not cron" }] }), BadRequestError);
      await assert.rejects(client.crons.get("missing"), NotFoundError);
      await assert.rejects(client.crons.getEntry("nightly", "missing"), NotFoundError);
      await client.crons.deleteEntry("nightly", "hourly");
      assert.deepEqual((await client.crons.get("nightly")).entries.map((entry) => entry.name), ["tick"]);
      await client.crons.delete("nightly");
      await assert.rejects(client.crons.delete("nightly"), NotFoundError);
      await client.crons.put("a", { entries: [] });
      await client.crons.put("b", { paused: true, entries: [] });
      assert.equal(await client.crons.deleteAll(), 2);
      assert.deepEqual(await client.crons.list(), []);
    });
  });
}
