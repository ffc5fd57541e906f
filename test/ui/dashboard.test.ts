/**
 * The web dashboard in a real headless Chromium (Debian's, driven by playwright-core): every page
 * loads, each action works (pause, retry, cancel, delete, with their confirmations), a live update
 * arrives from /events without a reload, and a server with tokens asks for one. The queues page is
 * saved as docs/dashboard.png for the README.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { AuthFile } from "../../src/http/auth-file.js";
import { ack, assertStatus, enqueue, failJob } from "../helpers/jobs.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { openTake, type RawTakeStream } from "../helpers/take.js";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = fileURLToPath(new URL("../../docs/dashboard.png", import.meta.url));

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`the dashboard tests need Chromium at ${CHROMIUM} (Debian package chromium; .ci/run installs it)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Accepts the next confirm() the page shows, and returns its message. */
function acceptNextDialog(page: Page): Promise<string> {
  return new Promise((resolve) => page.once("dialog", (dialog) => {
    resolve(dialog.message());
    void dialog.accept();
  }));
}

describe("the web dashboard", () => {
  let h: TestServer;
  let browser: Browser;
  let page: Page;
  const streams: RawTakeStream[] = [];
  before(async () => {
    browser = await launch();
    h = await startTestServer({ heartbeatMs: 100 });
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await browser?.close();
    await h?.close();
  });

  test("queues: counts by status, a live update from /events, pause with a confirmation", async () => {
    // Fixed names on a fresh server, so the screenshot comes out the same every run.
    const queue = "emails";
    await enqueue(h.url, queue, { type: "welcome", payload: { hello: "dashboard" } });
    await enqueue(h.url, "reports", { type: "monthly", ready_at: h.clock.now() + 3_600_000 });
    await page.goto(`${h.url}/ui`);
    const row = page.locator(`#queues tr[data-queue="${queue}"]`);
    await row.waitFor();
    assert.equal(await row.locator('td[data-status="ready"]').textContent(), "1");
    await page.locator("#live", { hasText: "live" }).waitFor();
    await enqueue(h.url, queue, { type: "welcome" });
    await row.locator('td[data-status="ready"]', { hasText: "2" }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: SCREENSHOT });
    const asked = acceptNextDialog(page);
    await row.locator("button", { hasText: "Pause" }).click();
    assert.equal(await asked, `pause queue ${queue}?`);
    await page.locator("#message", { hasText: `paused queue ${queue}` }).waitFor();
    assert.equal((await api(h.url, "GET", `/queues/${queue}`)).body.settings.paused, true);
  });

  test("jobs: filtered by queue and status; a job's payload, errors and timeline; retry, cancel and delete", async () => {
    const queue = uniqueName("ui-jobs");
    const dead = await enqueue(h.url, queue, { type: "report", retry_limit: 0, payload: { month: "2026-11" } });
    const take = openTake(h.url, { queue });
    streams.push(take);
    await take.nextJob();
    assertStatus(await failJob(h.url, dead.id, { message: "the printer is on fire", error_type: "PrinterError" }), 200);
    take.close();
    const waiting = await enqueue(h.url, queue, { type: "report", ready_at: h.clock.now() + 3_600_000 });
    const doomed = await enqueue(h.url, queue, { type: "report", ready_at: h.clock.now() + 3_600_000 });

    await page.goto(`${h.url}/ui#/jobs?queue=${queue}`);
    await page.locator(`#jobs tr[data-job="${dead.id}"]`).waitFor();
    assert.equal(await page.locator("#jobs tbody tr").count(), 3);
    await page.locator('select[name="status"]').selectOption("dead");
    await page.locator("button", { hasText: "Filter" }).click();
    await page.waitForFunction("document.querySelectorAll('#jobs tbody tr').length === 1");

    await page.locator(`#jobs a`, { hasText: dead.id }).click();
    await page.locator('pre[data-field="payload"]', { hasText: '"month": "2026-11"' }).waitFor();
    assert.match(await page.locator("#errors").textContent() ?? "", /PrinterError.*the printer is on fire/);
    const retried = acceptNextDialog(page);
    await page.locator("button", { hasText: "Retry" }).click();
    assert.equal(await retried, `Retry job ${dead.id}?`);
    await page.locator("#message", { hasText: `retried job ${dead.id}` }).waitFor();
    assert.equal((await api(h.url, "GET", `/jobs/${dead.id}`)).status, 404, "the dead job was enqueued afresh");

    await page.goto(`${h.url}/ui#/job/${waiting.id}`);
    const cancelled = acceptNextDialog(page);
    await page.locator("button", { hasText: "Cancel" }).click();
    await cancelled;
    await page.locator('dd[data-field="status"]', { hasText: "dead" }).waitFor();

    await page.goto(`${h.url}/ui#/job/${doomed.id}`);
    await page.locator('dd[data-field="status"]', { hasText: "scheduled" }).waitFor();
    const deleted = acceptNextDialog(page);
    await page.locator("button", { hasText: "Delete" }).click();
    await deleted;
    await page.locator("#message", { hasText: `deleted job ${doomed.id}` }).waitFor();
    assert.equal((await api(h.url, "GET", `/jobs/${doomed.id}`)).status, 404);
  });

  test("queue settings: edited as JSON and saved as a patch, confirmed", async () => {
    const queue = uniqueName("ui-settings");
    await enqueue(h.url, queue);
    await page.goto(`${h.url}/ui`);
    const row = page.locator(`#queues tr[data-queue="${queue}"]`);
    await row.locator("button", { hasText: "Settings" }).click();
    await page.locator('textarea[name="settings"]').fill('{"max_in_flight": 3}');
    const asked = acceptNextDialog(page);
    await page.locator("button", { hasText: "Save" }).click();
    assert.equal(await asked, `change the settings of queue ${queue}?`);
    await page.locator("#message", { hasText: `changed the settings of queue ${queue}` }).waitFor();
    assert.equal((await api(h.url, "GET", `/queues/${queue}`)).body.settings.max_in_flight, 3);
  });

  test("cron groups with their next fires; a workflow as a graph of its steps with their statuses", async () => {
    const group = uniqueName("ui-cron");
    assertStatus(await api(h.url, "PUT", `/crons/${group}`, { body: { entries: [{ name: "nightly", expression: "0 3 * * *", timezone: "UTC", job: { queue: "reports", type: "nightly", payload: {} } }] } }), 200);
    await page.goto(`${h.url}/ui#/crons`);
    const entry = page.locator(`#crons tr[data-entry="${group}/nightly"]`);
    await entry.waitFor();
    assert.match(await entry.textContent() ?? "", /0 3 \* \* \*.*UTC.*reports \/ nightly/);
    assert.notEqual(await entry.locator('td[data-field="next"]').textContent(), "");

    const queue = uniqueName("ui-flow");
    const created = await api(h.url, "POST", "/workflows", { body: { chain: [{ queue, type: "extract", payload: 1 }, { group: [{ queue, type: "load", payload: 2 }, { queue, type: "load", payload: 3 }] }] } });
    assertStatus(created, 201);
    const [first] = created.body.jobs as string[];
    const take = openTake(h.url, { queue });
    streams.push(take);
    assert.equal((await take.nextJob()).id, first);
    assertStatus(await ack(h.url, first!), 204);
    await page.goto(`${h.url}/ui#/job/${created.body.jobs[1]}`);
    await page.locator("dd a", { hasText: created.body.id }).click();
    await page.locator('[data-field="workflow-status"]', { hasText: "running" }).waitFor();
    assert.equal(await page.locator("#workflow a.step").count(), 3);
    await page.locator(`#workflow a.step.completed[data-step="${first}"]`).waitFor();
    assert.equal(await page.locator("#workflow .group a.step").count(), 2, "the group's two steps, side by side after the first");
  });

  test("workers: each take stream with its Worker-Id", async () => {
    const queue = uniqueName("ui-workers");
    const stream = openTake(h.url, { queue, workerId: `browser-${queue}` });
    streams.push(stream);
    await stream.opened;
    await page.goto(`${h.url}/ui#/workers`);
    await page.locator("#workers td", { hasText: `browser-${queue}` }).waitFor();
  });
});

describe("the web dashboard behind tokens", () => {
  test("asks for a token, and with one shows the queues", async () => {
    const auth = AuthFile.parse(JSON.stringify({ tokens: [{ name: "ops", token: "ops-token", scopes: ["read", "enqueue", "admin"] }] }));
    const h = await startTestServer({ auth });
    const browser = await launch();
    try {
      const queue = uniqueName("ui-auth");
      assertStatus(await api(h.url, "POST", "/jobs", { body: { queue, type: "t", payload: 1 }, headers: { authorization: "Bearer ops-token" } }), 201);
      const page = await browser.newPage();
      await page.goto(`${h.url}/ui`);
      await page.locator("#token input").fill("ops-token");
      await page.locator("#token button").click();
      await page.locator(`#queues tr[data-queue="${queue}"]`).waitFor();
      await page.locator("#live", { hasText: "live" }).waitFor({ timeout: 5000 });
    } finally {
      await browser.close();
      await h.close();
    }
  });
});
