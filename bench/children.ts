/** Bookkeeping shared by the child processes the bench starts: where they run, and killing stragglers. */
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository root: children run here so `src/cli/main.ts` and tsx resolve. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** Remembers a temporary directory until `forgetTempDir`, so an interrupted run still removes it. */
export function trackTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
}

/** The last resort when the bench itself is interrupted: SIGKILLs every child still running and removes their data. */
export function abandonChildren(): void {
  for (const child of live) child.kill("SIGKILL");
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
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

/** The environment for children, without variables that would change how they run. */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.WHARF_URL;
  delete env.NODE_OPTIONS;
  return env;
}
