/** `wharf cron ...` as a user runs it: a child process against a running server, output on a pipe (JSON lines). */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cliCommandLine, jsonLines, killAllChildren, runCli, runShell, type CliResult } from "../helpers/cli.js";
import { api, startTestServer, tempDir, uniqueName, type TestServer } from "../helpers/server.js";

type Printed = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests index freely into printed JSON

function describeRun(result: CliResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

function printed(result: CliResult): Printed[] {
  assert.equal(result.code, 0, describeRun(result));
  return jsonLines(result.stdout) as Printed[];
}

let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer({ maintenanceIntervalMs: 3_600_000 });
  dir = tempDir("wharf-cron-cli-");
});

after(async () => {
  await killAllChildren();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const cron = (...args: string[]): Promise<CliResult> => runCli(["cron", ...args, "--url", server.url]);

describe("wharf cron", () => {
  it("put from a YAML file and from JSON on stdin; list, get, pause, resume and delete", async () => {
    const group = uniqueName("g");
    const queue = uniqueName();
    const yamlFile = join(dir, "group.yaml");
    writeFileSync(yamlFile, [
      "entries:",
      "  - name: nightly",
      '    expression: "0 3 * * *"',
      "    timezone: Europe/Rome",
      "    job:",
      `      queue: ${queue}`,
      "      type: report",
      "      priority: 10",
      "      payload: { full: true, days: [1, 2] }",
    ].join("\n"));
    const [defined] = printed(await cron("put", group, yamlFile));
    assert.equal(defined!.name, group);
    assert.deepEqual(defined!.entries[0].job, { queue, type: "report", priority: 10, payload: { full: true, days: [1, 2] } });
    const stored = await api(server.url, "GET", `/crons/${group}`);
    assert.deepEqual(stored.body, defined);

    const json = `{"entries":[{"name":"often","expression":"*/5 * * * * *","job":{"queue":"${queue}","type":"t","payload":{"n":12345678901234567890}}}]}`;
    const piped = await runShell(`printf '%s' '${json}' | ${cliCommandLine(["cron", "put", `${group}-2`, "-", "--url", server.url])}`);
    assert.equal(printed(piped)[0]!.entries[0].name, "often");
    const storedText = await (await fetch(`${server.url}/crons/${group}-2`)).text();
    assert.ok(storedText.includes('"n":12345678901234567890'), `a JSON file keeps every digit: ${storedText}`);

    const listed = printed(await cron("list"));
    assert.ok(listed.some((line) => line.name === group) && listed.some((line) => line.name === `${group}-2`));
    assert.equal(printed(await cron("get", group, "nightly"))[0]!.timezone, "Europe/Rome");
    assert.equal(printed(await cron("pause", group))[0]!.paused, true);
    assert.equal(printed(await cron("resume", group))[0]!.paused, false);
    assert.equal(printed(await cron("pause", group, "nightly"))[0]!.paused, true);
    assert.equal(printed(await cron("resume", group, "nightly"))[0]!.paused, false);
    assert.deepEqual(printed(await cron("delete", group, "nightly", "--yes")), [{ deleted: `${group}/nightly` }]);
    assert.deepEqual(printed(await cron("delete", group, "--yes")), [{ deleted: group }]);
    assert.equal((await api(server.url, "GET", `/crons/${group}`)).status, 404);
  });

  it("bad definitions and missing files exit 2 naming the problem; unknown groups exit 1; delete without --yes off a terminal refuses", async () => {
    const group = uniqueName("g");
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ entries: [{ name: "x", expression: "not cron", job: { queue: "q", type: "t", payload: {} } }] }));
    const refused = await cron("put", group, bad);
    assert.equal(refused.code, 2, describeRun(refused));
    assert.match(refused.stderr, /entries\[0\]\.expression/);
    const garbled = join(dir, "garbled.yaml");
    writeFileSync(garbled, "entries: [ {name: x\n  - : :");
    assert.equal((await cron("put", group, garbled)).code, 2);
    const missing = await cron("put", group, join(dir, "nope.yaml"));
    assert.equal(missing.code, 2, describeRun(missing));
    assert.match(missing.stderr, /cannot read/);
    const unknown = await cron("get", group);
    assert.equal(unknown.code, 1, describeRun(unknown));
    assert.match(unknown.stderr, /not found \(HTTP 404\)/);
    const good = join(dir, "good.json");
    writeFileSync(good, JSON.stringify({ entries: [] }));
    printed(await cron("put", group, good));
    const unconfirmed = await cron("delete", group);
    assert.equal(unconfirmed.code, 2, describeRun(unconfirmed));
    assert.match(unconfirmed.stderr, /--yes/);
    assert.equal((await api(server.url, "GET", `/crons/${group}`)).status, 200, "nothing was deleted");
  });
});
