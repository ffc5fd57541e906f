/**
 * A queue's key expression (concurrency_key.key, rate_limit.key): jq over a job's payload, giving the
 * key its per-key limits count it under. One jq run keys every payload of an enqueue.
 */
import { BadRequestError } from "../../errors.js";
import { stringifyJson } from "../../job/json.js";
import type { JsonValue } from "../../job/types.js";
import { badRequest, MAX_KEY_LENGTH, unprocessable } from "../../job/validate.js";
import { firstLine, PRELUDE, REFUSAL_KEY, refusalMessage, runBudgeted } from "./prelude.js";
import { refusedUse } from "./refused.js";
import type { JqLimits } from "./runtime.js";

/**
 * One line per payload: `{"k": KEY}` (a string; a number as its text; null for no key) or `{"e": WHY}`.
 * The expression sits after a blank line so a comment on its last line cannot reach the closing parenthesis.
 */
function program(expression: string): string {
  return (
    `${PRELUDE} def __wharf_key: null as $ENV | (${expression}\n\n); ` +
    `try ([first(__wharf_key)] | if length == 0 then {k: null} else .[0] ` +
    `| if type == "string" or type == "null" then {k: .} elif type == "number" then {k: tostring} ` +
    `else {e: "gave \\(type), not a string or a number"} end end) ` +
    `catch (if type == "object" and has("${REFUSAL_KEY}") then {r: .${REFUSAL_KEY}} else {e: "failed: \\(if type == "string" then . else tojson end)"} end)`
  );
}

/** Checks a key expression when it is set: it must compile and use no refused builtin (400 otherwise). */
export async function checkKeyExpression(expression: string, field: string, budget: JqLimits): Promise<void> {
  const refused = refusedUse(expression);
  if (refused !== undefined) throw new BadRequestError(`${field} ${refusalMessage(refused)}`);
  // jq compiles its program before it reads input: with no input, nothing of the expression runs.
  const check = await runBudgeted([program(expression)], "", budget, badRequest);
  if (check.status !== 0) throw new BadRequestError(`${field} is not a valid jq expression: ${firstLine(check.stderr)}`);
}

/**
 * Each payload's key (undefined: none, for null or ""). A payload the expression fails on, or keys as
 * something other than a string or number, is refused (UnprocessableError, naming `where` of it).
 */
export async function evaluateKeys(expression: string, payloads: readonly JsonValue[], where: (position: number) => string, budget: JqLimits): Promise<Array<string | undefined>> {
  const run = await runBudgeted(["-c", program(expression)], payloads.map(stringifyJson).join("\n"), budget, unprocessable);
  const lines = run.stdout.split("\n").filter((line) => line !== "");
  if (run.status !== 0 || lines.length !== payloads.length) {
    throw unprocessable(`the queue's key expression cannot be evaluated: ${firstLine(run.stderr) || `jq exited with status ${run.status}`}`);
  }
  return lines.map((line, position) => {
    const output = JSON.parse(line) as { k?: string | null; e?: string; r?: string };
    const problem = output.r !== undefined ? refusalMessage(output.r) : output.e;
    if (problem !== undefined) throw unprocessable(`${where(position)}: the queue's key expression ${JSON.stringify(expression)} ${problem}`);
    const key = output.k ?? "";
    if (key.length > MAX_KEY_LENGTH) throw unprocessable(`${where(position)}: the queue's key expression gave a key of ${key.length} characters; at most ${MAX_KEY_LENGTH}`);
    return key === "" ? undefined : key;
  });
}
