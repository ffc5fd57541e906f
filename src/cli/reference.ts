/** The README's CLI reference: every command's `--help`, from the definitions in program.ts. */
import { allCommands, buildProgram } from "./program.js";

export const REFERENCE_START = "<!-- cli-reference:start: generated from src/cli/program.ts by `npm run docs:cli`; do not edit by hand -->";
export const REFERENCE_END = "<!-- cli-reference:end -->";
/** Wide enough for one option per line, and the same wherever the reference is generated. */
const HELP_WIDTH = 100;

export function cliReference(): string {
  const helps = allCommands(buildProgram({ helpWidth: HELP_WIDTH })).map((command) => {
    const path = [];
    for (let at: typeof command | null = command; at; at = at.parent) path.unshift(at.name());
    return `$ ${path.join(" ")} --help\n${command.helpInformation().trimEnd()}`;
  });
  return ["```text", helps.join("\n\n"), "```"].join("\n");
}

/** The README with the text between the markers replaced by the current reference. */
export function withCliReference(readme: string): string {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${REFERENCE_START} ... ${REFERENCE_END} block`);
  return `${readme.slice(0, start + REFERENCE_START.length)}\n${cliReference()}\n${readme.slice(end)}`;
}
