/**
 * The package as a user gets it: built and packed, installed from the tarball into a scratch project,
 * programs type-checked against it with `skipLibCheck: false` (the main entry without `@types/pg`,
 * `wharf-queue/postgres` with it) and run, and the bin started. No network: the scratch project is
 * installed with `npm ci --offline` from the npm cache that the repository's own `npm ci` filled, its
 * lockfile cut from ours (so the versions are the ones that cache holds), and without install scripts:
 * better-sqlite3's compiled addon is copied from our node_modules.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { test } from "node:test";
import { childEnv, killAllChildren, ROOT, track } from "../helpers/children.js";
import { waitForListening } from "../helpers/listening.js";

interface LockEntry {
  name?: string;
  version: string;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [field: string]: unknown;
}

interface Manifest {
  name: string;
  version: string;
  license: string;
  bin: Record<string, string>;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, unknown>;
}

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));
const MANIFEST = readJson(join(ROOT, "package.json")) as Manifest;
const LOCKED = (readJson(join(ROOT, "package-lock.json")) as { packages: Record<string, LockEntry> }).packages;
const REGISTRY = (process.env.npm_config_registry ?? "https://registry.npmjs.org/").replace(/\/?$/, "/");
const COMMAND_TIMEOUT_MS = 90_000;
/** What a user of `wharf-queue/postgres` has beside it: @types/node for any Node program, @types/pg for pg. */
const USER_TYPES = ["@types/node", "@types/pg"];

/** Runs a command to completion; rejects with its output when it fails or outlives COMMAND_TIMEOUT_MS. */
function run(file: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env: childEnv(env), timeout: COMMAND_TIMEOUT_MS, killSignal: "SIGKILL", maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The lock path Node would load `name` from, required by the package at lock path `from`. */
function locate(from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dir.slice(0, Math.max(dir.lastIndexOf("/node_modules/"), 0))) {
    const candidate = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`;
    if (LOCKED[candidate]) return candidate;
    if (dir === "") return undefined;
  }
}

/** Our lockfile's entries for `names` and everything they depend on, at the same paths, each with the tarball URL npm caches it under. */
function lockedClosure(names: string[]): Record<string, LockEntry> {
  const entries: Record<string, LockEntry> = {};
  const pending = names.map((name) => ({ from: "", name, optional: false }));
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const path = locate(next.from, next.name);
    if (path === undefined) {
      assert.ok(next.optional, `${next.name} (needed by ${next.from || "the package"}) is not in package-lock.json`);
      continue;
    }
    if (entries[path]) continue;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = LOCKED[path]!;
    const name = entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
    entries[path] = { ...entry, resolved: entry.resolved ?? `${REGISTRY}${name}/-/${posix.basename(name)}-${entry.version}.tgz` };
    for (const dependency of Object.keys(entry.dependencies ?? {})) pending.push({ from: path, name: dependency, optional: false });
    for (const dependency of Object.keys(entry.optionalDependencies ?? {})) pending.push({ from: path, name: dependency, optional: true });
  }
  return entries;
}

/** A project depending on the tarball (copied into it), with a lockfile npm can install offline. */
function writeScratchProject(dir: string, tarball: string): void {
  const reference = `file:${posix.basename(tarball)}`;
  copyFileSync(tarball, join(dir, posix.basename(tarball)));
  const devDependencies = Object.fromEntries(USER_TYPES.map((name) => [name, MANIFEST.devDependencies[name]!]));
  const root = { name: "scratch", version: "1.0.0", type: "module", private: true, dependencies: { [MANIFEST.name]: reference }, devDependencies };
  const { version, license, bin, engines, dependencies, peerDependencies, peerDependenciesMeta } = MANIFEST;
  const published = { version, license, bin, engines, dependencies, peerDependencies, peerDependenciesMeta };
  const packages = {
    "": root,
    [`node_modules/${MANIFEST.name}`]: { ...published, resolved: reference },
    ...lockedClosure([...Object.keys(MANIFEST.dependencies), ...USER_TYPES]),
  };
  writeFileSync(join(dir, "package.json"), JSON.stringify(root, null, 2));
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify({ name: "scratch", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2));
}

const MAIN_PROGRAM = `
import { open, startServer, WharfError, Worker } from "wharf-queue";

const client = await open({ store: "sqlite::memory:" });
const job = await client.enqueue({ queue: "emails", type: "welcome", payload: { to: "ada@example.com" } });
const worker: Worker = new Worker(client, { queues: ["emails"] });
console.log(job.status, typeof startServer, typeof WharfError, worker instanceof Worker);
await client.close();
`;

const POSTGRES_PROGRAM = `
import pg from "pg";
import { enqueueWithin } from "wharf-queue/postgres";

export async function receipt(db: pg.ClientBase): Promise<string | undefined> {
  const [job] = await enqueueWithin(db, [{ queue: "emails", type: "receipt", payload: { order: 42 } }]);
  return job?.id;
}
console.log(typeof enqueueWithin);
`;

/** Type-checks `source` as the scratch project's program `name`.ts (strict, skipLibCheck off), runs it and returns its output. */
async function checkAndRun(dir: string, name: string, source: string): Promise<string> {
  writeFileSync(join(dir, `${name}.ts`), source);
  const compilerOptions = { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, skipLibCheck: false, types: ["node"], outDir: "out" };
  writeFileSync(join(dir, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, files: [`${name}.ts`] }));
  await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", `tsconfig.${name}.json`], dir);
  return run(process.execPath, [`out/${name}.js`], dir);
}

/** Starts the installed bin's server on a free port, asks it for /health and the dashboard's files over HTTP and for /health with `wharf health`, and stops it. */
async function serveAndCheckHealth(dir: string): Promise<void> {
  const child = track(spawn(join(dir, "node_modules/.bin/wharf-queue"), ["serve", "--store", "sqlite::memory:", "--host", "127.0.0.1", "--port", "0"], { cwd: dir, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] }));
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const { url } = await waitForListening(child, 20_000, () => output);
  const response = await fetch(`${url}/health`);
  assert.equal(response.status, 200, await response.text());
  // The dashboard's files come from the package (dist/ui) and its dependencies (Preact, htm).
  for (const path of ["/ui", "/ui/app.js", "/ui/vendor/preact.mjs", "/ui/vendor/hooks.mjs", "/ui/vendor/htm.mjs"]) {
    assert.equal((await fetch(`${url}${path}`)).status, 200, path);
  }
  await run(join(dir, "node_modules/.bin/wharf"), ["health"], dir, { WHARF_URL: url });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** Builds and packs the package into `dir`; checks what the tarball holds and returns its path and file list. */
async function packChecked(dir: string): Promise<{ tarball: string; files: string[] }> {
  await run("npm", ["run", "build"], ROOT);
  const [packed] = JSON.parse(await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed!.files.map((file) => file.path);
  for (const required of ["LICENSE", "README.md", "package.json", "dist/index.d.ts", "dist/postgres.d.ts", "dist/cli/main.js"]) {
    assert.ok(files.includes(required), `the tarball lacks ${required}`);
  }
  assert.deepEqual(files.filter((path) => /^(test|bench|src|examples)\//.test(path)), [], "the tarball ships development files");
  assert.ok(files.some((path) => path.startsWith("dist/store/sqlite/migrations/")), "the tarball lacks the SQLite migrations");
  return { tarball: join(dir, packed!.filename), files };
}

/** Installs the tarball into a new project under `dir` without network or install scripts; returns the project's directory. */
async function installScratchProject(dir: string, tarball: string): Promise<string> {
  const project = join(dir, "project");
  mkdirSync(project);
  writeScratchProject(project, tarball);
  await run("npm", ["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"], project);
  const addon = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
  mkdirSync(join(project, posix.dirname(addon)), { recursive: true });
  copyFileSync(join(ROOT, addon), join(project, addon));
  return project;
}

/** Every source map shipped must point only at files that are shipped too. */
function assertMapsResolve(installed: string, files: string[]): void {
  for (const map of files.filter((path) => path.endsWith(".map"))) {
    const { sources } = readJson(join(installed, map)) as { sources: string[] };
    for (const source of sources) assert.ok(files.includes(posix.join(posix.dirname(map), source)), `${map} points at ${source}, which is not shipped`);
  }
}

test("the packed tarball installs offline, type-checks with skipLibCheck off, and its bin serves", { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-pack-"));
  t.after(async () => {
    await killAllChildren();
    rmSync(dir, { recursive: true, force: true });
  });
  const { tarball, files } = await packChecked(dir);
  const project = await installScratchProject(dir, tarball);
  assertMapsResolve(join(project, "node_modules", MANIFEST.name), files);

  assert.equal((await checkAndRun(project, "postgres", POSTGRES_PROGRAM)).trim(), "function");
  // The main entry's types must not reach pg's: without @types/pg, TS7016 would fail this check.
  rmSync(join(project, "node_modules/@types/pg"), { recursive: true });
  assert.equal((await checkAndRun(project, "main", MAIN_PROGRAM)).trim(), "ready function function true");

  for (const bin of ["wharf", "wharf-queue"]) {
    assert.match(await run(join(project, "node_modules/.bin", bin), ["--version"], project), new RegExp(MANIFEST.version.replaceAll(".", "\\.")));
  }
  await serveAndCheckHealth(project);
});
