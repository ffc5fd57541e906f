/** HTTP/1.1 requests as exact bytes on a socket: the headers a browser sends, which fetch() would rewrite or refuse. */
import net from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Sends `head` (request line and headers, without the blank line) and `body` on a new connection
 * (Connection: close is added) and reads the whole answer. Chunked answers are not decoded.
 */
export function rawRequest(url: string, head: string, body: Buffer | string = "", timeoutMs = 10_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname.replace(/^\[|\]$/g, ""));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`no answer to ${head.split("\r\n")[0]} within ${timeoutMs} ms`)), timeoutMs);
    socket.on("connect", () => {
      socket.write(`${head}\r\nConnection: close\r\n\r\n`);
      if (bytes.length > 0) socket.write(bytes);
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const split = all.indexOf("\r\n\r\n");
      if (split < 0) {
        reject(new Error(`incomplete answer to ${head.split("\r\n")[0]}: ${JSON.stringify(all.toString("latin1").slice(0, 200))}`));
        return;
      }
      const [statusLine, ...lines] = all.subarray(0, split).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body: all.subarray(split + 4) });
    });
  });
}

/** The JSON body of a raw answer, or undefined when it has none or is not JSON. */
export function jsonBody(response: RawResponse): unknown {
  if (!(response.headers["content-type"] ?? "").startsWith("application/json") || response.body.length === 0) return undefined;
  return JSON.parse(response.body.toString("utf8"));
}
