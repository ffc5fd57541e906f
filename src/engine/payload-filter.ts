import { evaluate, parse } from "@jq-tools/jq";
import { BadRequestError } from "../errors.js";
import type { JsonValue } from "../job/types.js";

export interface PayloadFilter {
  readonly expression: string;
  matches(payload: JsonValue): boolean;
}

type JqProgram = ReturnType<typeof parse>;

/**
 * Compiles a jq expression once per request. A payload matches when the
 * expression yields a truthy value (not false or null); a payload the
 * expression cannot be applied to (a runtime error) does not match.
 */
export function compilePayloadFilter(expression: string): PayloadFilter {
  let program: JqProgram;
  try {
    program = parse(expression);
  } catch (error) {
    throw new BadRequestError(`filter is not a valid jq expression: ${firstLine((error as Error).message)}`);
  }
  return {
    expression,
    matches(payload) {
      try {
        for (const output of evaluate(program, [payload])) {
          if (output !== false && output !== null && output !== undefined) return true;
        }
        return false;
      } catch {
        return false;
      }
    },
  };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}
