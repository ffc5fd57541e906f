/**
 * Runs the `wharf` CLI as a real child process (through tsx, from the repo root or any directory),
 * on pipes or on a real terminal (util-linux `script`), and starts `wharf serve` as a child that can
 * be signalled, killed and restarted.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import { after, before, type TestContext } from "node:test";
import { childEnv, killAllChildren, ROOT, track } from "./children.js";
import { waitForListening } from "./listening.js";
import { startTestServer, type TestServer } from "./server.js";
import { cleanups } from "./transports.js";

export { killAllChildren, ROOT } from "./children.js";
/** Absolute, so that the CLI runs from any working directory. */
const CLI = ["--import", import.meta.resolve("tsx"), join(ROOT, "src/cli/main.ts")];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Added to the environment (WHARF_URL and the test runner's variables are not inherited). */
  env?: Record<string, string>;
  /** The child is killed (SIGKILL) and the promise rejects after this long. */
  timeoutMs?: number;
  /** Working directory (default: the repository root). */
  cwd?: string;
}

/** Runs `wharf ARGS...` to completion, on pipes: stdout and stderr are not terminals. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return finish(spawn(process.execPath, [...CLI, ...args], { cwd: options.cwd ?? ROOT, env: childEnv(options.env), stdio: ["ignore", "pipe", "pipe"] }), args, options);
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** The shell command line that runs `wharf ARGS...`. */
export function cliCommandLine(args: string[]): string {
  return [process.execPath, ...CLI, ...args].map(shellQuote).join(" ");
}

/** Runs a shell command line (bash) to completion, e.g. the CLI into a pipe. */
export function runShell(commandLine: string, options: CliOptions = {}): Promise<CliResult> {
  return finish(spawn("bash", ["-c", commandLine], { cwd: options.cwd ?? ROOT, env: childEnv(options.env), stdio: ["ignore", "pipe", "pipe"] }), [commandLine], options);
}

export interface TerminalOptions extends CliOptions {
  /** Typed (with Enter) once the CLI has asked its confirmation question. */
  answer?: string;
}

/**
 * Runs `wharf ARGS...` on a real pseudo-terminal (stdin, stdout and stderr are all the terminal), through
 * util-linux `script`. Everything the terminal showed comes back in `stdout`, with line ends as "\n".
 */
export async function runInTerminal(args: string[], options: TerminalOptions = {}): Promise<CliResult> {
  const child = spawn("script", ["-qfec", cliCommandLine(args), "/dev/null"], { cwd: options.cwd ?? ROOT, env: childEnv(options.env), stdio: ["pipe", "pipe", "pipe"] });
  let shown = "";
  child.stdout!.setEncoding("utf8").on("data", function answerOnce(chunk: string) {
    shown += chunk;
    if (options.answer === undefined || !shown.includes("Type y or yes")) return;
    child.stdin!.write(`${options.answer}\n`);
    child.stdout!.off("data", answerOnce);
  });
  const result = await finish(child, args, options);
  return { ...result, stdout: result.stdout.replaceAll("\r\n", "\n") };
}

function finish(spawned: ChildProcess, args: string[], options: CliOptions): Promise<CliResult> {
  const child = track(spawned);
  const timeoutMs = options.timeoutMs ?? 20_000;
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`wharf ${args.join(" ")} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export type Printed = Record<string, unknown>;

export function describeRun(result: CliResult): string {
  return `exit ${result.code}${result.signal ? ` (${result.signal})` : ""}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** Asserts a successful run and returns its stdout, one parsed JSON value per line. */
export function ok(result: CliResult): Printed[] {
  assert.equal(result.code, 0, describeRun(result));
  assert.equal(result.stderr, "", describeRun(result));
  return jsonLines(result.stdout) as Printed[];
}

/** Asserts a run that failed with `code`, said why on stderr (matching `pattern`) and printed nothing else. */
export function failed(result: CliResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, describeRun(result));
  assert.match(result.stderr, pattern, describeRun(result));
  assert.equal(result.stdout, "", describeRun(result));
}

/** Asserts a successful run that printed exactly one JSON line, and returns it. */
export function onlyLine(result: CliResult): Printed {
  const lines = ok(result);
  assert.equal(lines.length, 1, describeRun(result));
  return lines[0]!;
}

/** A port on loopback that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface CliAgainstServer {
  /** The in-process test server, started before the suite's tests. */
  readonly server: TestServer;
  readonly url: string;
  /** Runs `wharf ARGS... --url URL` against that server. */
  wharf(...args: string[]): Promise<CliResult>;
}

/** Starts a test server before the enclosing suite's tests and closes it, and every CLI child, after them. */
export function cliAgainstTestServer(): CliAgainstServer {
  let server: TestServer | undefined;
  const started = (): TestServer => {
    assert.ok(server, "the test server starts in the suite's before hook");
    return server;
  };
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await killAllChildren();
    await server?.close();
  });
  return {
    get server() {
      return started();
    },
    get url() {
      return started().url;
    },
    wharf: (...args) => runCli([...args, "--url", started().url]),
  };
}

/** Parses stdout as one JSON value per line. */
export function jsonLines(stdout: string): unknown[] {
  return stdout.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as unknown);
}

export interface SpawnedServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the server wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Sends a signal (no-op once the process has exited). */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the process has exited, with its code or signal; rejects after `timeoutMs`. */
  waitExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the process if it still runs and waits for it to be gone. */
  stop(): Promise<void>;
}

export interface SpawnServerOptions {
  dataDir: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  durability?: "buffered" | "fsync";
  extraArgs?: string[];
  env?: Record<string, string>;
  /** How long to wait for the "listening" line. */
  startTimeoutMs?: number;
}

/** Starts `wharf serve` on loopback and resolves once it has logged the URL it listens on. */
export function spawnServer(options: SpawnServerOptions): Promise<SpawnedServer> {
  const args = [
    ...CLI, "serve",
    "--host", "127.0.0.1",
    "--port", String(options.port ?? 0),
    "--data-dir", options.dataDir,
    "--durability", options.durability ?? "buffered",
    ...(options.extraArgs ?? []),
  ];
  const child = track(spawn(process.execPath, args, { cwd: ROOT, env: childEnv(options.env), stdio: ["ignore", "pipe", "pipe"] }));
  let stdout = "";
  let stderr = "";
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  const server = (url: string, port: number): SpawnedServer => ({
    url,
    port,
    child,
    output: () => ({ stdout, stderr }),
    kill(signal = "SIGTERM") {
      if (exit === undefined) child.kill(signal);
    },
    waitExit(timeoutMs = 10_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`wharf serve (pid ${child.pid}) did not exit within ${timeoutMs} ms`)), timeoutMs);
      });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
    async stop() {
      if (exit === undefined) child.kill("SIGKILL");
      await exited;
    },
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  return waitForListening(child, options.startTimeoutMs ?? 20_000, () => `stdout: ${stdout}\nstderr: ${stderr}`)
    .then(({ url, port }) => server(url, port));
}


export type Defer = (cleanup: () => unknown) => void;

/** Cleanups run in reverse order when the test ends, passed or not; every child process is killed last. */
export function cleanupsKillingChildren(t: TestContext): Defer {
  const defer = cleanups(t);
  defer(() => killAllChildren());
  return defer;
}
