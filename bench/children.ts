/** Bookkeeping shared by the child processes the bench starts: where they run, and killing stragglers. */
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { hasExited, killChildrenNow } from "../test/helpers/children.js";

export { childEnv, hasExited, ROOT, track } from "../test/helpers/children.js";

const tempDirs = new Set<string>();

/** Remembers a temporary directory until `forgetTempDir`, so an interrupted run still removes it. */
export function trackTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
}

/** The last resort when the bench itself is interrupted: SIGKILLs every child still running and removes their data. */
export function abandonChildren(): void {
  killChildrenNow();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

/** Resolves when the child has exited; SIGKILLs it first if it is still running after `graceMs`. */
export function exitWithin(child: ChildProcess, graceMs: number): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
