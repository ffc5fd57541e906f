/**
 * A batch's `when` and `fold` expressions as one jq program (README "Batched jobs"). One run folds a
 * whole sequence of incoming payloads into an open payload, so a bulk of folds costs one jq start.
 */
import { parseJson } from "../../job/json.js";
import type { BatchConfig, JsonValue } from "../../job/types.js";
import { unprocessable } from "../../job/validate.js";
import { firstLine, PRELUDE, REFUSAL_KEY, refusalMessage, runBudgeted } from "./prelude.js";
import { refusedUse } from "./refused.js";
import type { JqLimits } from "./runtime.js";

/** What happened to one incoming payload: folded into the open batch, sealed it (with its last payload), or failed. */
export type FoldStep =
  | { step: "fold" }
  | { step: "seal"; sealed: JsonValue }
  | { step: "error"; message: string };

/** An expression as a function of $existing and $new, after a blank line so a trailing comment cannot reach past it. */
function definition(name: "when" | "fold", expression: string): string {
  return `def __wharf_${name}($existing; $new): null as $ENV | (${expression}\n\n); `;
}

/** Both expressions, and how one expression's outputs become a step. */
function definitions({ when, fold }: BatchConfig): string {
  return (
    `${PRELUDE} ${definition("when", when)}${definition("fold", fold)}` +
    `def __wharf_one(outputs; $name): (try [limit(2; outputs)] catch {__wharf_error: .}) as $o ` +
    `| if ($o | type) == "object" then {step: "error", name: $name, value: $o.__wharf_error} ` +
    `elif ($o | length) != 1 then {step: "error", name: $name, count: ($o | length)} else {value: $o[0]} end; `
  );
}

/** Input `[start, news]`; output `{steps, cur}`: each incoming payload's step, and the open payload at the end. */
const FOLD_RUN =
  `. as [$start, $news] | reduce $news[] as $new ({cur: $start, steps: []}; ` +
  `.cur as $existing | __wharf_one(__wharf_when($existing; $new); "when") as $w ` +
  `| if $w.step == "error" then .steps += [$w] ` +
  `elif ($w.value | . != null and . != false) then __wharf_one(__wharf_fold($existing; $new); "fold") as $f ` +
  `| if $f.step == "error" then .steps += [$f] else .cur = $f.value | .steps += [{step: "fold"}] end ` +
  `else .steps += [{step: "seal", sealed: $existing}] | .cur = $new end)`;

/** One input per line, a payload; one output per line: null, or the error step of the first expression that failed on it. */
const DRY_RUN = `. as $new | [__wharf_one(__wharf_when($new; $new); "when"), __wharf_one(__wharf_fold($new; $new); "fold")] | map(select(.step == "error")) | .[0]`;

interface RawStep {
  step: "fold" | "seal" | "error";
  sealed?: JsonValue;
  name?: string;
  value?: JsonValue;
  count?: number;
}

function stepMessage(raw: RawStep): string {
  const value = raw.value;
  if (raw.count !== undefined) return `batch.${raw.name} must produce exactly one output, got ${raw.count === 0 ? "none" : "several"}`;
  if (typeof value === "object" && value !== null && !Array.isArray(value) && REFUSAL_KEY in value) {
    return `batch.${raw.name} ${refusalMessage(String(value[REFUSAL_KEY]))}`;
  }
  return `batch.${raw.name} failed: ${typeof value === "string" ? value : JSON.stringify(value)}`;
}

function toStep(raw: RawStep): FoldStep {
  if (raw.step === "error") return { step: "error", message: stepMessage(raw) };
  if (raw.step === "seal") return { step: "seal", sealed: raw.sealed ?? null };
  return { step: raw.step };
}

/** A batch configuration's expressions, checked to compile and to use no refused builtin. */
export class BatchProgram {
  private constructor(
    private readonly program: string,
    private readonly budget: JqLimits,
  ) {}

  static async compile(config: BatchConfig, budget: JqLimits): Promise<BatchProgram> {
    for (const name of ["when", "fold"] as const) {
      const refused = refusedUse(config[name]);
      if (refused !== undefined) throw unprocessable(`batch.${name} ${refusalMessage(refused)}`);
    }
    const prefix = definitions(config);
    // jq compiles before it reads input: with none, nothing of the expressions runs.
    const check = await runBudgeted(["-c", prefix + FOLD_RUN], "", budget, unprocessable);
    if (check.status !== 0) throw unprocessable(`${await BatchProgram.culprit(config, budget)} is not a valid jq expression: ${firstLine(check.stderr)}`);
    return new BatchProgram(prefix, budget);
  }

  /** Which expression does not compile, for the message. */
  private static async culprit(config: BatchConfig, budget: JqLimits): Promise<string> {
    const whenAlone = `${PRELUDE} ${definition("when", config.when)}__wharf_when(null; null)`;
    return (await runBudgeted([whenAlone], "", budget, unprocessable)).status !== 0 ? "batch.when" : "batch.fold";
  }

  /** Both expressions on each payload as both $existing and $new: per payload, why they fail on it, or undefined. */
  async dryRun(payloads: readonly string[]): Promise<Array<string | undefined>> {
    const lines = await this.run(this.program + DRY_RUN, payloads.join("\n"), payloads.length);
    return lines.map((line) => (line === null ? undefined : stepMessage(line as RawStep)));
  }

  /** Folds `news` (JSON texts) in turn into `start` (the open payload's text). */
  async fold(start: string, news: readonly string[]): Promise<{ steps: FoldStep[]; cur: JsonValue }> {
    const [output] = await this.run(this.program + FOLD_RUN, `[${start},[${news.join(",")}]]`, 1);
    const { steps, cur } = output as { steps: RawStep[]; cur: JsonValue };
    return { steps: steps.map(toStep), cur };
  }

  private async run(program: string, input: string, count: number): Promise<unknown[]> {
    const run = await runBudgeted(["-c", program], input, this.budget, unprocessable);
    const lines = run.stdout.split("\n").filter((line) => line !== "");
    if (run.status !== 0 || lines.length !== count) {
      throw unprocessable(`batch expressions cannot be evaluated: ${firstLine(run.stderr) || `jq exited with status ${run.status}`}`);
    }
    return lines.map((line) => parseJson(line));
  }
}
