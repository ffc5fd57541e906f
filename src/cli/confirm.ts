/** Asking before a command changes many jobs: a person at a terminal answers, a script passes --yes. */
import { createInterface } from "node:readline";
import { UsageError } from "./usage.js";

export interface ConfirmOptions {
  yes?: boolean;
}

export class Declined extends Error {
  constructor() {
    super("not confirmed; nothing was changed");
  }
}

export function onTerminal(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

function ask(question: string): Promise<string> {
  const reader = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => {
    let answered = false;
    reader.question(question, (answer) => {
      answered = true;
      reader.close();
      resolve(answer);
    });
    reader.once("close", () => {
      if (!answered) resolve("");
    });
  });
}

/**
 * Goes ahead with `--yes`; on a terminal, only when the answer is y or yes; otherwise refuses, as a
 * usage error, so that a script never destroys data because nobody was there to say no.
 */
export async function confirm(action: string, options: ConfirmOptions): Promise<void> {
  if (options.yes) return;
  if (!onTerminal()) throw new UsageError(`refusing to ${action} without confirmation: not on a terminal, pass --yes to go ahead`);
  const answer = await ask(`${action[0]!.toUpperCase()}${action.slice(1)}? Type y or yes to go ahead: `);
  if (!/^\s*(y|yes)\s*$/i.test(answer)) throw new Declined();
}
