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
  const path = fieldPath(expression);
  const keys = payloads.map((payload) => (path ? pathKey(path, payload) : UNDECIDED));
  const left = keys.flatMap((key, position) => (key === UNDECIDED ? [position] : []));
  if (left.length > 0) {
    const outputs = await runKeys(expression, left.map((position) => payloads[position]!), budget);
    left.forEach((position, index) => {
      const output = outputs[index]!;
      const problem = output.r !== undefined ? refusalMessage(output.r) : output.e;
      if (problem !== undefined) throw unprocessable(`${where(position)}: the queue's key expression ${JSON.stringify(expression)} ${problem}`);
      keys[position] = output.k ?? null;
    });
  }
  return keys.map((key, position) => {
    const text = (key as string | null) ?? "";
    if (text.length > MAX_KEY_LENGTH) throw unprocessable(`${where(position)}: the queue's key expression gave a key of ${text.length} characters; at most ${MAX_KEY_LENGTH}`);
    return text === "" ? undefined : text;
  });
}

async function runKeys(expression: string, payloads: readonly JsonValue[], budget: JqLimits): Promise<Array<{ k?: string | null; e?: string; r?: string }>> {
  const run = await runBudgeted(["-c", program(expression)], payloads.map(stringifyJson).join("\n"), budget, unprocessable);
  const lines = run.stdout.split("\n").filter((line) => line !== "");
  if (run.status !== 0 || lines.length !== payloads.length) {
    throw unprocessable(`the queue's key expression cannot be evaluated: ${firstLine(run.stderr) || `jq exited with status ${run.status}`}`);
  }
  return lines.map((line) => JSON.parse(line) as { k?: string | null; e?: string; r?: string });
}

/** A payload jq must key: the shortcut below cannot say what jq would. */
const UNDECIDED = Symbol("undecided");

/** The fields of an expression that only walks object fields (`.tenant`, `.customer.id`), else undefined. */
function fieldPath(expression: string): string[] | undefined {
  return /^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(expression) ? expression.slice(1).split(".") : undefined;
}

/**
 * What jq gives for a field path, where it is plain: a string, or null for a missing field or a null
 * on the way. Anything else (a number, whose text jq writes its own way; indexing a non-object, an
 * error) is left to jq. Keying costs no jq run for the usual `.tenant` then.
 */
function pathKey(path: readonly string[], payload: JsonValue): string | null | typeof UNDECIDED {
  let value: JsonValue | undefined = payload;
  for (const field of path) {
    if (value === null || value === undefined) return null;
    if (typeof value !== "object" || Array.isArray(value)) return UNDECIDED;
    value = Object.hasOwn(value, field) ? value[field] : null;
  }
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : UNDECIDED;
}
