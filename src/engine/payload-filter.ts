import { setImmediate as nextTurn } from "node:timers/promises";
import { BadRequestError } from "../errors.js";
import { badRequest } from "../job/validate.js";
import { firstLine, PRELUDE, REFUSAL_KEY, refusalMessage, runBudgeted } from "./jq/prelude.js";
import { refusedUse } from "./jq/refused.js";
import type { JqLimits } from "./jq/runtime.js";

/** What one filter evaluation may spend; see README "jq filters". */
export type FilterBudget = JqLimits;

export const DEFAULT_FILTER_BUDGET: FilterBudget = { timeoutMs: 5000, memoryMb: 256 };

export interface PayloadFilter {
  readonly expression: string;
  /**
   * Whether each payload, given as its JSON text (as stored: nothing to parse or serialize), matches,
   * in order. Over budget or using a refused builtin is a BadRequestError.
   */
  matchTexts(texts: readonly string[]): Promise<boolean[]>;
}

/** Payloads given to one jq run at most; a larger batch is split. */
const PAYLOADS_PER_RUN = 10_000;
/** Input one jq run is given, about, in characters: a scan over big payloads goes in several runs. */
const BYTES_PER_RUN = 4 * 1024 * 1024;

/**
 * One line of output per payload: 1 when the filter yields a value that is neither false nor null
 * before it ends or fails, 0 otherwise, or the name of a refused builtin it reached. The filter sits
 * in parentheses, after a blank line so a comment on its last line cannot reach the closing one;
 * it compiled on its own first, so it cannot close them early.
 */
function wrapped(expression: string): string {
  return (
    `${PRELUDE} def __wharf_filter: null as $ENV | (${expression}\n\n); ` +
    `[first((try __wharf_filter catch __wharf_caught) | select(. != null and . != false))] ` +
    `| if length == 0 then 0 elif (.[0] | type == "object" and has("${REFUSAL_KEY}")) then .[0].${REFUSAL_KEY} else 1 end`
  );
}

/**
 * The payloads as jq input, one per line, in runs of at most PAYLOADS_PER_RUN payloads and about
 * BYTES_PER_RUN characters; each run's input is joined only when it is asked for.
 */
function* jqInputs(texts: readonly string[]): Generator<{ input: string; count: number }> {
  let start = 0;
  let size = 0;
  for (let position = 0; position < texts.length; position++) {
    size += texts[position]!.length;
    if (position + 1 - start < PAYLOADS_PER_RUN && size < BYTES_PER_RUN && position + 1 < texts.length) continue;
    yield { input: texts.slice(start, position + 1).join("\n"), count: position + 1 - start };
    start = position + 1;
    size = 0;
  }
}

async function matchRun(program: string, input: string, count: number, budget: FilterBudget): Promise<boolean[]> {
  const run = await runBudgeted([program], input, budget, badRequest);
  const lines = run.stdout.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (run.status !== 0 || lines.length !== count) {
    throw new BadRequestError(`filter cannot be evaluated: ${firstLine(run.stderr) || `jq exited with status ${run.status}`}`);
  }
  return lines.map((line) => {
    if (line === "1") return true;
    if (line === "0") return false;
    throw refusal(JSON.parse(line) as string);
  });
}

function refusal(name: string): BadRequestError {
  return new BadRequestError(`filter ${refusalMessage(name)}`);
}

/**
 * Checks a jq expression once per request: it must compile (jq's own message, first line, when not)
 * and use no refused builtin. A payload matches when the expression yields a truthy value (not false
 * or null); a payload the expression fails on (a runtime error) does not match.
 */
export async function compilePayloadFilter(expression: string, budget: FilterBudget = DEFAULT_FILTER_BUDGET): Promise<PayloadFilter> {
  // jq compiles its program before it reads input: with no input, nothing of the filter runs.
  const check = await runBudgeted([expression], "", budget, badRequest);
  if (check.status !== 0) throw new BadRequestError(`filter is not a valid jq expression: ${firstLine(check.stderr)}`);
  const refused = refusedUse(expression);
  if (refused !== undefined) throw refusal(refused);
  const program = wrapped(expression);
  return {
    expression,
    async matchTexts(texts) {
      // Runs go side by side, as many at once as the pool has workers. Each input is joined and handed
      // to its worker (a copy) in a turn of its own: 40 MB of big payloads in one turn held /health up.
      const runs: Array<Promise<boolean[]>> = [];
      for (const { input, count } of jqInputs(texts)) {
        const run = matchRun(program, input, count, budget);
        run.catch(() => undefined); // awaited below; a failure while later inputs are joined is not unhandled
        runs.push(run);
        await nextTurn();
      }
      return (await Promise.all(runs)).flat();
    },
  };
}
