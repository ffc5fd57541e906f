/**
 * `wharf top` in a real terminal: tmux runs it in a detached session of a fixed size, `send-keys`
 * types and `capture-pane` reads the screen. The header, every tab, the detail panel, search, retry,
 * delete and quitting; and off a terminal it is a usage error.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { cliAgainstTestServer, cliCommandLine, failed } from "../helpers/cli.js";
import { ack, assertStatus, enqueue, failJob } from "../helpers/jobs.js";
import { api, eventually, uniqueName } from "../helpers/server.js";
import { openTake } from "../helpers/take.js";

function tmux(...args: string[]): string {
  try {
    return execFileSync("tmux", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error("these tests need tmux (Debian package tmux; .ci/run installs it)", { cause: error });
    throw error;
  }
}

describe("wharf top", () => {
  const cli = cliAgainstTestServer();
  const session = `wharf-top-${randomBytes(4).toString("hex")}`;
  after(() => {
    try {
      tmux("kill-session", "-t", session);
    } catch {
      // Quit already, as the test has it.
    }
  });
  const screen = (): string => tmux("capture-pane", "-p", "-t", session);
  const shows = (text: string, what: string) => eventually(() => screen().includes(text), 10_000, `${what}; the screen:\n${screen()}`);
  const keys = (...names: string[]): void => void tmux("send-keys", "-t", session, ...names);

  test("shows the server, jobs by status and each tab; retries, deletes, searches and quits", async () => {
    const queue = uniqueName("top");
    const held = openTake(cli.url, { queue: `${queue}-held` });
    const inFlight = await enqueue(cli.url, `${queue}-held`, { type: "held-type" });
    await held.nextJob();
    const ready = await enqueue(cli.url, queue, { type: "ready-type", payload: { hello: "top" } });
    const scheduled = await enqueue(cli.url, queue, { type: "later-type", ready_at: cli.server.clock.now() + 3_600_000 });
    const doomed = await enqueue(cli.url, `${queue}-dead`, { type: "dead-type", retry_limit: 0 });
    const taker = openTake(cli.url, { queue: `${queue}-dead` });
    await taker.nextJob();
    assertStatus(await failJob(cli.url, doomed.id, { message: "broken" }), 200);
    taker.close();

    tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "30", cliCommandLine(["top", "--url", cli.url, "--refresh-ms", "200"]));
    await shows("[In flight", "the first tab");
    await shows(inFlight.id, "the in-flight job");
    assert.match(screen(), /wharf top \d+\.\d+\.\d+ +http:\/\/127\.0\.0\.1:\d+ +server \d+\.\d+\.\d+, up /);
    assert.match(screen(), /in_flight 1 .*dead 1/);
    assert.match(screen(), /q quit/);

    keys("Tab");
    await shows("[Ready", "the Ready tab");
    await shows(ready.id, "the ready job");
    keys("i");
    await shows('payload {"hello":"top"}', "the detail panel");

    keys("Tab");
    await shows(scheduled.id, "the scheduled job");
    keys("d");
    await shows(`delete job ${scheduled.id}?`, "the delete question");
    keys("y");
    await shows(`deleted job ${scheduled.id}`, "the deletion");
    assert.equal((await api(cli.url, "GET", `/jobs/${scheduled.id}`)).status, 404);

    keys("Tab");
    await shows("[Dead", "the Dead tab");
    await shows(doomed.id, "the dead job");
    keys("r");
    await shows(`retried job ${doomed.id}`, "the retry");
    await eventually(async () => (await api(cli.url, "GET", `/jobs/${doomed.id}`)).status === 404, 5000, "the dead job enqueued afresh");

    keys("Tab", "Tab");
    await shows("[Ready", "back on the Ready tab");
    keys("/");
    for (const character of "dead-type") keys(character);
    keys("Enter");
    await shows("search: dead-type", "the search");
    await eventually(() => !screen().includes(ready.id), 5000, "the ready job filtered out");
    keys("Escape");

    keys("q");
    await eventually(() => {
      try {
        tmux("has-session", "-t", session);
        return false;
      } catch {
        return true;
      }
    }, 5000, "wharf top to quit on q");
    assertStatus(await ack(cli.url, inFlight.id), 204);
    held.close();
  });

  test("off a terminal it is a usage error", async () => {
    failed(await cli.wharf("top"), 2, /wharf top needs a terminal/);
  });
});
