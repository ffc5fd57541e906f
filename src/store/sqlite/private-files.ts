/**
 * The store's files hold every payload: a directory the store creates is its owner's alone (0700),
 * and so is a database file it creates (0600). SQLite gives the -wal and -shm files the database
 * file's permissions. Files and directories that exist keep theirs: the operator chose them.
 */
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";

export function createPrivateDirectory(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
}

/** Creates `path` empty, readable and writable by its owner only, unless it exists. */
export function createPrivateFile(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
}
