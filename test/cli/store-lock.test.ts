/**
 * One process per SQLite store, and only the stores Wharf has: a second `wharf serve` (or an in-process
 * `open()`) on a file a server holds is refused, naming the holder, and the holder carries on; the
 * lock dies with its holder, even by SIGKILL; `--store` refuses anything but sqlite:, sqlite::memory:
 * and postgres(ql):// (exit code 2), and `open({ store })` the same (InvalidStoreError).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { InvalidStoreError, open, startServer, StoreInUseError } from "../../src/index.js";
import { killAllChildren, ROOT, runCli, spawnServer } from "../helpers/cli.js";
import { enqueue, getJob } from "../helpers/jobs.js";
import { api, quietLogger, tempDir, uniqueName } from "../helpers/server.js";
import { openTake } from "../helpers/take.js";

after(() => killAllChildren());

test("a second wharf serve on one SQLite file exits non-zero naming the holder; the first keeps serving; after its SIGKILL a new one starts at once", async (t) => {
  const dataDir = tempDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await spawnServer({ dataDir });
  t.after(() => first.stop());
  const queue = uniqueName();
  const job = await enqueue(first.url, queue);
  const stream = openTake(first.url, { queue });
  t.after(() => stream.close());
  const taken = await stream.nextJob(5000);
  assert.equal(taken.id, job.id);

  const second = await runCli(["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--durability", "buffered"]);
  assert.equal(second.code, 1, `second server: ${JSON.stringify(second)}`);
  assert.match(second.stderr, new RegExp(`in use by pid ${first.child.pid} on host ${hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  assert.match(second.stderr, /one Wharf process/);
  assert.doesNotMatch(second.stdout, /listening/);

  assert.equal((await api(first.url, "GET", "/health")).status, 200, "the first server is still up");
  const still = await getJob(first.url, job.id);
  assert.equal(still.status, "in_flight", "the refused server did not reset the first one's in-flight job");
  assert.equal(still.run_id, taken.run_id);
  await assert.rejects(open({ dataDir }), (error: unknown) => {
    assert.ok(error instanceof StoreInUseError, String(error));
    assert.equal(error.holder?.pid, first.child.pid);
    assert.equal(error.holder?.host, hostname());
    return true;
  }, "open() in this process on the held file");

  first.kill("SIGKILL");
  await first.waitExit(5000);
  const started = Date.now();
  const third = await spawnServer({ dataDir, startTimeoutMs: 10_000 });
  t.after(() => third.stop());
  t.diagnostic(`a new server was listening ${Date.now() - started} ms after the holder's SIGKILL`);
  const recovered = await getJob(third.url, job.id);
  assert.equal(recovered.status, "ready", "the dead holder's in-flight job is ready again");
});

test("open() on a SQLite file another open() in this process holds is refused; the file is free once that one closes", async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = `sqlite:${join(dir, "wharf.db")}`;
  const holder = await open({ store, durability: "buffered" });
  await assert.rejects(open({ store, durability: "buffered" }), StoreInUseError);
  await holder.close();
  const next = await open({ store, durability: "buffered" });
  await next.close();
});

test("sqlite::memory: stores are private: any number open at once", async () => {
  const stores = await Promise.all([0, 1].map(() => open({ store: "sqlite::memory:" })));
  await Promise.all(stores.map((client) => client.close()));
});

for (const store of ["redis://x", "mysql://x", "foo", "sqlite:", "http://example.com/db"]) {
  test(`wharf serve --store ${store} is a usage error (exit code 2), and so is open({ store: "${store}" })`, async () => {
    const result = await runCli(["serve", "--port", "0", "--store", store]);
    assert.equal(result.code, 2, JSON.stringify(result));
    assert.match(result.stderr, /--store: .*sqlite:PATH, sqlite::memory: or a postgres:\/\/ \(postgresql:\/\/\) URL/);
    assert.match(result.stderr, /\(add --help for usage\)\n$/);
    assert.equal(existsSync(join(ROOT, "redis:")), false, "no SQLite file is created for it");
    await assert.rejects(open({ store }), InvalidStoreError);
  });
}

test("wharf serve creates its --data-dir for its owner only (0700) and every store file in it 0600, the WAL included", async (t) => {
  const parent = tempDir();
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const dataDir = join(parent, "nested", "data");
  const server = await spawnServer({ dataDir, durability: "fsync" });
  t.after(() => server.stop());
  await enqueue(server.url, uniqueName("private"));
  assert.equal(statSync(dataDir).mode & 0o777, 0o700);
  const files = readdirSync(dataDir);
  assert.ok(files.includes("wharf.db") && files.some((name) => name.endsWith("-wal")), files.join(", "));
  for (const name of files) assert.equal(statSync(join(dataDir, name)).mode & 0o777, 0o600, name);
});

test("startServer on a port in use fails and lets its store go: a server on the same data dir starts right after", async (t) => {
  const taken = await startServer({ host: "127.0.0.1", port: 0, dataDir: tempDir(), durability: "buffered", logger: quietLogger });
  t.after(() => taken.close());
  const dataDir = tempDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  await assert.rejects(startServer({ host: "127.0.0.1", port: taken.port, dataDir, durability: "buffered", logger: quietLogger }), /EADDRINUSE/);
  const next = await startServer({ host: "127.0.0.1", port: 0, dataDir, durability: "buffered", logger: quietLogger });
  await next.close();
});
