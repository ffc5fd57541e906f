import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * jq 1.7 itself (jq-wasm: jq's C sources compiled to WebAssembly), run on worker threads so a
 * filter that loops or explodes never holds up the event loop: each run has a wall-clock budget,
 * and a worker over it is terminated and replaced. A run is one call of jq's main, with its
 * arguments and its whole input; it compiles the program once and reads every input in turn.
 *
 * jq-wasm's own `raw()` feeds stdin and collects stdout a byte at a time, copying the buffer on
 * every byte (quadratic in the input size), so the worker loads the module itself and points jq
 * at files in the module's in-memory file system instead: the module is evaluated from its source
 * with two edits, checked to apply, that expose its file system and set the heap ceiling.
 */

export interface JqRun {
  /** jq's exit status: 0 fine, 2 usage, 3 compile error, 5 the last output was an error. */
  status: number;
  stdout: string;
  stderr: string;
}

export interface JqLimits {
  /** Wall-clock time one run may take, in ms. */
  timeoutMs: number;
  /** Largest heap jq's WebAssembly memory may grow to, in MiB (the module's own ceiling is 256). */
  memoryMb: number;
}

/** A run that went over its budget or took the WebAssembly module down with it. */
export class JqBudgetError extends Error {}

const JQ_MODULE = createRequire(import.meta.url).resolve("jq-wasm/dist/build/jq.js");

/** The worker's program, plain CommonJS (an eval'd worker has no loader for TypeScript). */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
// The module reports an abort (out of memory) on the console as well as by throwing: the throw is enough.
console.error = () => {};

const edits = [
  ["readyPromiseResolve(Module);", "Module.FS = FS; readyPromiseResolve(Module);"],
  ["getHeapMax = () => 268435456", "getHeapMax = () => " + workerData.heapBytes],
];
let source = fs.readFileSync(workerData.modulePath, "utf8");
for (const [from, to] of edits) {
  if (!source.includes(from)) throw new Error("jq-wasm is not the build Wharf knows: " + JSON.stringify(from) + " not found");
  source = source.replace(from, to);
}
const loaded = { exports: {} };
vm.runInThisContext("(function (module, exports, require, __filename, __dirname) {" + source + "\n})", { filename: workerData.modulePath })(
  loaded, loaded.exports, require, workerData.modulePath, path.dirname(workerData.modulePath));

loaded.exports({ printErr() {} }).then((jq) => {
  const FS = jq.FS;
  FS.mkdir("/wharf");
  FS.writeFile("/wharf/out", "");
  FS.writeFile("/wharf/err", "");
  // jq writes to fds 1 and 2: make them files, which grow by doubling, in place of the byte-at-a-time terminals.
  FS.close(FS.streams[1]);
  const out = FS.open("/wharf/out", "w");
  FS.close(FS.streams[2]);
  const err = FS.open("/wharf/err", "w");
  if (out.fd !== 1 || err.fd !== 2) throw new Error("could not take over jq's stdout and stderr");
  parentPort.on("message", ({ id, args, input }) => {
    FS.writeFile("/wharf/in", input);
    FS.ftruncate(1, 0);
    FS.ftruncate(2, 0);
    out.position = 0;
    err.position = 0;
    let status;
    try {
      status = jq.callMain([...args, "/wharf/in"]);
    } catch (error) {
      parentPort.postMessage({ id, crashed: String(error && error.message || error) });
      process.exit(1);
    }
    FS.writeFile("/wharf/in", "");
    parentPort.postMessage({
      id,
      status,
      stdout: FS.readFile("/wharf/out", { encoding: "utf8" }),
      stderr: FS.readFile("/wharf/err", { encoding: "utf8" }),
    });
  });
  parentPort.postMessage({ ready: true });
});
`;

interface Task {
  /** Set once the task has been given a fresh worker after its first one crashed. */
  retried?: boolean;
  args: string[];
  input: string;
  timeoutMs: number;
  resolve(run: JqRun): void;
  reject(error: Error): void;
}

interface Reply {
  id?: number;
  ready?: boolean;
  crashed?: string;
  status?: number;
  stdout?: string;
  stderr?: string;
}

/**
 * Runs a worker gives before it is replaced. jq's main was not written to be called again and again
 * in one process: in a long-lived module some state wears out (the conformance test saw a "memory
 * access out of bounds" after a few hundred runs, never on a fresh module), so workers are recycled,
 * and a task whose worker crashed after earlier runs is tried once more on a fresh one.
 */
const RUNS_PER_WORKER = 100;

/** One worker with jq loaded; it runs one task at a time. */
class JqWorker {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private nextId = 0;
  private current: { id: number; task: Task; timer?: NodeJS.Timeout } | undefined;
  dead = false;
  private runs = 0;

  constructor(
    heapBytes: number,
    private readonly onIdle: (worker: JqWorker) => void,
    private readonly retry: (task: Task) => void,
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { modulePath: JQ_MODULE, heapBytes } });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("message", (reply: Reply) => (reply.ready ? resolve() : reject(new Error("jq worker did not start"))));
      this.worker.once("error", reject);
    });
    this.ready.catch(() => undefined);
    this.worker.on("message", (reply: Reply) => this.reply(reply));
    this.worker.on("error", (error) => this.fail(new JqBudgetError(`jq stopped: ${error.message}`)));
    this.worker.on("exit", () => this.fail(new JqBudgetError("jq stopped")));
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  start(task: Task): void {
    const id = this.nextId++;
    this.runs++;
    this.current = { id, task };
    this.worker.ref();
    this.ready.then(
      () => {
        if (this.current?.id !== id) return;
        this.current.timer = setTimeout(() => {
          this.fail(new JqBudgetError(`filter evaluation exceeded its ${task.timeoutMs} ms budget`));
        }, task.timeoutMs);
        this.worker.postMessage({ id, args: task.args, input: task.input });
      },
      (error: Error) => this.fail(error),
    );
  }

  private reply(reply: Reply): void {
    const current = this.current;
    if (reply.ready || !current || reply.id !== current.id) return;
    if (reply.crashed !== undefined) {
      if (this.runs > 1 && !current.task.retried) {
        current.task.retried = true;
        this.current = undefined;
        clearTimeout(current.timer);
        this.retire();
        this.retry(current.task);
        return;
      }
      this.fail(new JqBudgetError(`filter evaluation ran out of room: ${reply.crashed}`));
      return;
    }
    clearTimeout(current.timer);
    this.current = undefined;
    this.worker.unref();
    current.task.resolve({ status: reply.status ?? 0, stdout: reply.stdout ?? "", stderr: reply.stderr ?? "" });
    if (this.runs >= RUNS_PER_WORKER) this.retire();
    else this.onIdle(this);
  }

  /** Ends the task in hand with an error, and the worker with it: its jq may be looping or broken. */
  private fail(error: Error): void {
    const current = this.current;
    this.current = undefined;
    if (current) clearTimeout(current.timer);
    this.retire();
    current?.task.reject(error);
  }

  /** Terminates the worker (once) and lets the pool replace it. */
  private retire(): void {
    if (this.dead) return;
    this.dead = true;
    void this.worker.terminate();
    this.onIdle(this);
  }

  close(): Promise<number> {
    this.dead = true;
    return this.worker.terminate();
  }
}

/** A few jq workers, started when first needed; a queue of runs waits for a free one. */
export class JqPool {
  private readonly workers: JqWorker[] = [];
  private readonly queue: Task[] = [];

  constructor(
    private readonly size: number,
    private readonly heapBytes: number,
  ) {}

  run(args: string[], input: string, timeoutMs: number): Promise<JqRun> {
    return new Promise((resolve, reject) => {
      this.queue.push({ args, input, timeoutMs, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (let position = this.workers.length - 1; position >= 0; position--) {
      if (this.workers[position]!.dead) this.workers.splice(position, 1);
    }
    while (this.queue.length > 0) {
      let worker = this.workers.find((candidate) => !candidate.busy);
      if (!worker && this.workers.length < this.size) {
        worker = new JqWorker(
          this.heapBytes,
          () => this.dispatch(),
          (task) => {
            this.queue.unshift(task);
            this.dispatch();
          },
        );
        this.workers.push(worker);
      }
      if (!worker) return;
      worker.start(this.queue.shift()!);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((worker) => worker.close()));
  }
}

const pools = new Map<number, JqPool>();

/** The shared pool for a heap size: two workers, so one runaway filter leaves another free. */
export function jqPool(memoryMb: number): JqPool {
  const heapBytes = Math.min(Math.max(Math.round(memoryMb), 16), 256) * 1024 * 1024;
  let pool = pools.get(heapBytes);
  if (!pool) {
    pool = new JqPool(2, heapBytes);
    pools.set(heapBytes, pool);
  }
  return pool;
}

/** Runs jq once: `jq ARGS FILE` where FILE holds `input`. */
export function runJq(args: string[], input: string, limits: JqLimits): Promise<JqRun> {
  return jqPool(limits.memoryMb).run(args, input, limits.timeoutMs);
}
