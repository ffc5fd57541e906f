/**
 * Child processes started by the tests and the benchmarks: where they run, what environment they
 * get, and killing every one still running, whatever happened to the run that started them.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root: every child runs here so `src/cli/main.ts` and tsx resolve. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Every child started through `track` and not yet exited. */
const live = new Set<ChildProcess>();

process.once("exit", killChildrenNow);

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** The environment for children, plus `extra`, without variables that would change how they run. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.WHARF_URL;
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

/** SIGKILLs every child still running, without waiting: the last resort when the parent is going away. */
export function killChildrenNow(): void {
  for (const child of live) child.kill("SIGKILL");
}

/** SIGKILLs every child still running and waits until they have exited. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...live].map((child) => new Promise<void>((resolve) => {
    if (hasExited(child)) {
      resolve();
      return;
    }
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  })));
}
