/** Waiting for `wharf serve`, started as a child process, to log where it listens: shared by the tests and the benchmarks. */
import type { ChildProcess } from "node:child_process";

/** The JSON line `wharf serve` logs once it accepts connections. */
export interface ListeningLine {
  url: string;
  port: number;
  pid: number;
}

function parseListening(line: string): ListeningLine | undefined {
  if (!line.includes('"listening"')) return undefined;
  try {
    const parsed = JSON.parse(line) as { msg?: unknown; url?: unknown; port?: unknown; pid?: unknown };
    if (parsed.msg === "listening" && typeof parsed.url === "string" && typeof parsed.port === "number" && typeof parsed.pid === "number") {
      return { url: parsed.url, port: parsed.port, pid: parsed.pid };
    }
  } catch {
    // Not a JSON line: ignore it.
  }
  return undefined;
}

/**
 * Resolves with the listening line from the child's stdout (which the caller has set to utf8).
 * If the child exits or fails first, or `timeoutMs` passes, kills it and rejects with what it
 * printed (`describeOutput`).
 */
export function waitForListening(child: ChildProcess, timeoutMs: number, describeOutput: () => string): Promise<ListeningLine> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    let settled = false;
    const fail = (message: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${message}\n${describeOutput()}`));
    };
    const timer = setTimeout(() => fail(`wharf serve did not report "listening" within ${timeoutMs} ms`), timeoutMs);
    child.stdout!.on("data", (chunk: string) => {
      if (settled) return;
      // Only complete lines: a chunk may end mid-line.
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      const listening = lines.map(parseListening).find((line) => line !== undefined);
      if (!listening) return;
      settled = true;
      clearTimeout(timer);
      resolve(listening);
    });
    child.once("error", (error) => fail(`cannot start wharf serve: ${error.message}`));
    child.once("exit", (code, signal) => fail(`wharf serve exited before listening (code ${code}, signal ${signal})`));
  });
}
