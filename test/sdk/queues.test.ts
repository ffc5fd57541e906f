/**
 * Queue settings and cancellation through the SDK, over every transport: a paused queue's jobs wait
 * and a Worker gets them once it is resumed; cancelling a running job aborts its handler's signal.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BadRequestError, UnprocessableError, Worker, type Job } from "../../src/index.js";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually, uniqueName } from "../helpers/server.js";
import { harness, TRANSPORTS } from "../helpers/transports.js";
import { runsUntilAborted } from "../helpers/handlers.js";

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
      await assert.rejects(h.client.patchQueue(queue, { concurrency_key: { limit: 1, key: ".a" }, rate_limit: { limit: 1, interval_ms: 1000, key: ".b" } }), UnprocessableError, "a job has one key");
    });

    test("client.cancel on a running job aborts its handler's signal; the Worker tells 'cancelled' and acks nothing; a waiting one is dead at once", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("sdk-cancel");
      const cancelled: string[] = [];
      const errors: unknown[] = [];
      const slow = runsUntilAborted();
      const worker = new Worker(h.client, { queues: [queue], handlers: { slow: slow.handler }, onError: (error) => errors.push(error) });
      worker.on("cancelled", (job: Job) => cancelled.push(job.id));
      const job = await h.client.enqueue({ queue, type: "slow", payload: null });
      worker.start();
      h.defer(() => worker.stop());
      await slow.started;
      assert.equal((await h.client.cancel(job.id)).status, "dead");
      await eventually(() => cancelled.length === 1, 3000, "the worker to tell the cancel");
      assert.deepEqual([slow.aborted, cancelled], [[job.id], [job.id]]);
      const waiting = await h.client.enqueue({ queue: uniqueName("idle"), type: "slow", payload: null });
      assert.equal((await h.client.cancel(waiting.id)).status, "dead");
      await assert.rejects(h.client.cancel(waiting.id), UnprocessableError);
      await sleep(100);
      assert.deepEqual(errors, [], "no ack or failure report was sent for the cancelled run");
      assert.equal((await h.client.getJob(job.id)).status, "dead");
    });
  });
}
