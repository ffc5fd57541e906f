import type { WharfError } from "../../errors.js";
import { REFUSED_FUNCTIONS } from "./refused.js";
import { JqBudgetError, runJq, type JqLimits, type JqRun } from "./runtime.js";

/** The key of the error a refused builtin raises (see PRELUDE). */
export const REFUSAL_KEY = "__wharf_refused";

/**
 * Evaluated before a user's expression, on the same (first) line so `$__loc__` tells the expression's
 * own lines: the refused builtins raise an error the wrapper recognises, and `input_filename` is
 * "<stdin>", as for jq 1.7 reading its standard input.
 */
export const PRELUDE = [
  ...Object.keys(REFUSED_FUNCTIONS)
    .filter((name) => /^[a-z_]+$/.test(name) && name !== "import" && name !== "include")
    .map((name) => `def ${name}: error({${REFUSAL_KEY}: "${name}"});`),
  `def halt_error($status): error({${REFUSAL_KEY}: "halt_error"});`,
  `def input_filename: "<stdin>";`,
  `def __wharf_caught: if type == "object" and has("${REFUSAL_KEY}") then . else false end;`,
].join(" ");

/** "uses NAME, which Wharf does not support ...: it WHY", for a refused builtin. */
export function refusalMessage(name: string): string {
  return `uses ${name}, which Wharf does not support in jq expressions: it ${REFUSED_FUNCTIONS[name]}`;
}

export function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? text;
}

/** Runs jq within the budget; a run over it (or one that took jq down) is `fail`'s error. */
export function runBudgeted(args: string[], input: string, budget: JqLimits, fail: (message: string) => WharfError): Promise<JqRun> {
  return runJq(args, input, budget).catch((error: unknown) => {
    if (error instanceof JqBudgetError) throw fail(error.message);
    throw error;
  });
}
