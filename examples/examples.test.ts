/** Runs every example as its own process: each must end by itself, exit 0 and print what it promises. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { createDatabase } from "../test/helpers/postgres.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TIMEOUT_MS = 15_000;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runExample(file: string, env: Record<string, string>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL(file, import.meta.url))], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A fresh database on the test run's PostgreSQL cluster (test/postgres-env.ts), for the PostgreSQL example. */
async function postgresDatabase(): Promise<Record<string, string>> {
  const cluster = process.env.WHARF_TEST_POSTGRES_URL;
  if (!cluster) throw new Error("the PostgreSQL example needs WHARF_TEST_POSTGRES_URL (run the tests through test/postgres-env.ts)");
  return { WHARF_POSTGRES_URL: await createDatabase(cluster) };
}

const EXAMPLES: Array<{ file: string; expect: RegExp[]; env?: () => Promise<Record<string, string>> }> = [
  {
    file: "quickstart.ts",
    expect: [/^enqueued job [0-9a-z]{25} \(ready\)$/m, /^sending a welcome email to ada@example\.com$/m, /^jobs left in "emails": 0$/m],
  },
  {
    file: "http-worker.ts",
    expect: [/^Wharf listening on http:\/\/127\.0\.0\.1:\d+$/m, /^squares: 1, 4, 9, 16, 25$/m],
  },
  {
    file: "retries.ts",
    expect: [
      /^charge: completed after 2 failure\(s\): RetryAtError: gateway busy \(try 1\); RetryAtError: gateway busy \(try 2\)$/m,
      /^refund: dead after 1 failure\(s\): KillJobError: refund window closed$/m,
      /^receipt: completed after 1 failure\(s\): Error: mail server down$/m,
      /^receipt: retried 1000 ms after its failure \(backoff\)$/m,
    ],
  },
  {
    file: "workflow.ts",
    expect: [
      /^workflow [0-9a-z]{25}: 4 steps$/m,
      /^done: emailed 12 lines; posted to #reports$/m,
      /^ran 5 jobs, 0 dead$/m,
      /^status: completed$/m,
      /^results: \{"rows":1200\}, \{"lines":12\}, "emailed 12 lines", "posted to #reports"$/m,
      /^callbacks: on success completed, on error gone$/m,
    ],
  },
  {
    file: "postgres.ts",
    env: postgresDatabase,
    expect: [
      /^after a rollback: 0 receipt jobs$/m,
      /^after the commit, server A's worker sent the receipt for order 42$/m,
      /^the same unique key through server B: duplicate=true, same job: true$/m,
    ],
  },
];

describe("examples", () => {
  for (const { file, expect, env } of EXAMPLES) {
    test(`${file} runs to completion`, async () => {
      const outcome = await runExample(file, env ? await env() : {});
      const context = `stdout:\n${outcome.stdout}\nstderr:\n${outcome.stderr}`;
      assert.equal(outcome.signal, null, `killed after ${TIMEOUT_MS} ms\n${context}`);
      assert.equal(outcome.code, 0, context);
      for (const line of expect) assert.match(outcome.stdout, line, context);
    });
  }
});
