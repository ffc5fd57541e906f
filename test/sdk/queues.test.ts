/** Queue settings through the SDK, over every transport: a paused queue's jobs wait; a Worker gets them once it is resumed. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BadRequestError, UnprocessableError, Worker } from "../../src/index.js";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually, uniqueName } from "../helpers/server.js";
import { harness, TRANSPORTS } from "../helpers/transports.js";

for (const transport of TRANSPORTS) {
  describe(`queue settings over ${transport.name}`, () => {
    test("pauseQueue holds a queue's jobs from a Worker, resumeQueue lets them go; patchQueue refuses what it does not know", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("sdk-pause");
      const ran: unknown[] = [];
      const worker = new Worker(h.client, { queues: [queue], handlers: { t: (job) => void ran.push(job.payload) } });
      assert.equal((await h.client.pauseQueue(queue)).settings.paused, true);
      await h.client.enqueue({ queue, type: "t", payload: 1 });
      worker.start();
      h.defer(() => worker.stop());
      await sleep(200);
      assert.deepEqual(ran, [], "nothing runs while paused");
      const info = await h.client.getQueue(queue);
      assert.deepEqual([info.settings.paused, info.counts.ready], [true, 1]);
      await h.client.resumeQueue(queue);
      await eventually(() => ran.length === 1, 3000, "the job to run once resumed");
      assert.deepEqual(ran, [1]);
      assert.equal((await h.client.patchQueue(queue, { paused: null })).settings.paused, false);
      await assert.rejects(h.client.patchQueue(queue, { colour: 1 } as never), BadRequestError);
      await assert.rejects(h.client.patchQueue(queue, { max_in_flight: 3 } as never), UnprocessableError);
    });
  });
}
