/**
 * Wharf's jq filters against the real jq 1.7.1 (test/helpers/jq-1.7.sh provides it): every
 * expression on every payload, comparing whether each payload matches and, through the runtime
 * seam, the outputs themselves.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { BadRequestError } from "../../src/errors.js";
import { stringifyJson } from "../../src/job/json.js";
import { compilePayloadFilter, DEFAULT_FILTER_BUDGET } from "../../src/engine/payload-filter.js";
import { runJq } from "../../src/engine/jq/runtime.js";
import { ROOT } from "../helpers/children.js";
import { EXPRESSIONS, PAYLOADS } from "./cases.js";

/** Filters Wharf refuses (400) on purpose; see README "jq filters". */
const REFUSED = new Set(["env | type", "$ENV | type", "halt_error"]);

interface Native {
  status: number;
  /** jq's outputs, as it prints them, one a line. */
  stdout: string;
  /** Whether some output is truthy in jq's sense (not false or null; NaN, which prints as null, is). */
  matched: boolean;
}

let jq: string;

/** jq on one payload: each output printed beside jq's own truthiness of it, as `[OUTPUT,1]` or `[OUTPUT,0]`. */
function native(expression: string, input: string): Promise<Native> {
  const program = `(${expression}\n\n) | [., if . then 1 else 0 end]`;
  return new Promise((resolve) => {
    const child = execFile(jq, ["-c", program], { timeout: 10_000, env: { PATH: process.env.PATH ?? "", TZ: "UTC" } }, (error, stdout) => {
      const lines = stdout.split("\n").filter((line) => line !== "");
      resolve({
        status: error ? (typeof error.code === "number" ? error.code : 1) : 0,
        stdout: lines.map((line) => `${line.slice(1, -3)}\n`).join(""),
        matched: lines.some((line) => line.endsWith(",1]")),
      });
    });
    child.stdin!.on("error", () => {}); // jq exits without reading a payload when the filter does not compile
    child.stdin!.end(input);
  });
}

async function pooled<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const at = next++;
        results[at] = await work(items[at]!);
      }
    }),
  );
  return results;
}

const inputs = PAYLOADS.map((payload) => stringifyJson(payload));
const expected = new Map<string, Native[]>();

before(async () => {
  jq = execFileSync("sh", ["test/helpers/jq-1.7.sh"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  assert.match(execFileSync(jq, ["-n", "-c", "[1,[2]] | flatten"], { encoding: "utf8" }), /\[1,2\]/);
  const pairs = EXPRESSIONS.flatMap((expression) => inputs.map((input) => ({ expression, input })));
  const runs = await pooled(pairs, 6, ({ expression, input }) => native(expression, input));
  EXPRESSIONS.forEach((expression, index) => expected.set(expression, runs.slice(index * inputs.length, (index + 1) * inputs.length)));
});

describe("jq conformance with jq 1.7.1", () => {
  test(`at least 150 expressions over ${PAYLOADS.length} payloads`, () => {
    assert.ok(EXPRESSIONS.length >= 150);
    assert.equal(new Set(EXPRESSIONS).size, EXPRESSIONS.length, "no expression twice");
  });

  test("every expression matches the payloads jq 1.7.1 says it matches", async () => {
    const wrong: string[] = [];
    let compared = 0;
    for (const expression of EXPRESSIONS) {
      const runs = expected.get(expression)!;
      const compiles = runs.every((run) => run.status !== 3);
      let matches: boolean[];
      try {
        matches = await (await compilePayloadFilter(expression)).matchTexts(PAYLOADS.map((payload) => stringifyJson(payload)));
      } catch (error) {
        assert.ok(error instanceof BadRequestError, `${expression}: ${String(error)}`);
        if (!(REFUSED.has(expression) || !compiles)) wrong.push(`${expression}: refused: ${error.message}`);
        continue;
      }
      if (REFUSED.has(expression) || !compiles) {
        wrong.push(`${expression}: should be refused`);
        continue;
      }
      runs.forEach((run, position) => {
        compared++;
        if (run.matched !== matches[position]) {
          wrong.push(`${expression} on ${inputs[position]}: jq says ${run.matched ? "match" : "no match"} (${run.stdout.trim()})`);
        }
      });
    }
    assert.deepEqual(wrong, []);
    assert.ok(compared >= 150 * PAYLOADS.length * 0.9, `compared ${compared} outcomes`);
  });

  test("every expression yields what jq 1.7.1 yields, payload by payload", async () => {
    const wrong: string[] = [];
    for (const expression of EXPRESSIONS) {
      // the seam runs bare jq on a file, which input_filename names; the filter API gives jq's "<stdin>"
      if (REFUSED.has(expression) || expression === "input_filename") continue;
      const runs = expected.get(expression)!;
      // jq goes on to the next input after a runtime error, so one run over all payloads prints what runs on each would.
      const run = await runJq(["-c", expression], inputs.join("\n"), DEFAULT_FILTER_BUDGET);
      const nativeStdout = runs.map((each) => each.stdout).join("");
      if (run.stdout !== nativeStdout) wrong.push(`${expression}: jq ${JSON.stringify(nativeStdout)}, Wharf ${JSON.stringify(run.stdout)}`);
      // jq's exit status tells about the last input only
      const nativeFailed = runs[runs.length - 1]!.status !== 0;
      if ((run.status !== 0) !== nativeFailed) wrong.push(`${expression}: jq ${nativeFailed ? "failed" : "succeeded"}, Wharf status ${run.status}`);
    }
    assert.deepEqual(wrong, []);
  });
});
