/** HTTP/2 client sessions for the tests: cleartext with prior knowledge (h2c) or over TLS (ALPN h2). */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { packr } from "../../src/http/codec.js";
import type { Job } from "../../src/job/types.js";
import { streamParser } from "./take.js";

/** A session to `url` (http:// is h2c with prior knowledge: no TLS, no Upgrade), once it is connected. */
export async function connectH2(url: string, options: http2.SecureClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(url, options);
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  return session;
}

export interface H2Result {
  status: number;
  contentType: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index freely into decoded bodies
  body: any;
}

/** One request on `session`; JSON unless `msgpack`; `extra` headers (authorization, say) added. */
export function h2Request(session: http2.ClientHttp2Session, method: string, path: string, body?: unknown, msgpack = false, extra: http2.OutgoingHttpHeaders = {}): Promise<H2Result> {
  const media = msgpack ? "application/msgpack" : "application/json";
  const headers: http2.OutgoingHttpHeaders = { ":method": method, ":path": path, accept: media, ...extra };
  if (body !== undefined) headers["content-type"] = media;
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 5000);
    let status = 0;
    let contentType = "";
    const chunks: Buffer[] = [];
    stream.on("response", (responseHeaders) => {
      status = Number(responseHeaders[":status"]);
      contentType = String(responseHeaders["content-type"] ?? "");
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      clearTimeout(timer);
      const bytes = Buffer.concat(chunks);
      let decoded: unknown;
      if (bytes.length > 0) decoded = contentType.startsWith("application/msgpack") ? packr.unpack(bytes) : JSON.parse(bytes.toString("utf8"));
      resolve({ status, contentType, body: decoded });
    });
    stream.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (body !== undefined) stream.end(msgpack ? packr.pack(body) : JSON.stringify(body));
  });
}

export interface H2TakeStream {
  jobs: Job[];
  next(timeoutMs: number): Promise<Job>;
  close(): void;
}

/** A take stream on `session`: resolves once the response headers arrive. */
export async function h2Take(session: http2.ClientHttp2Session, queue: string, accept: string): Promise<H2TakeStream> {
  const stream = session.request({ ":method": "GET", ":path": `/jobs/take?queue=${queue}&prefetch=1`, accept }, { endStream: true });
  const jobs: Job[] = [];
  let wake: (() => void) | undefined;
  const contentType = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("HTTP/2 take did not open")), 5000);
    stream.once("response", (headers) => {
      clearTimeout(timer);
      assert.equal(Number(headers[":status"]), 200);
      resolve(String(headers["content-type"] ?? ""));
    });
    stream.once("error", reject);
  });
  const parse = streamParser(contentType, (job) => {
    jobs.push(job);
    wake?.();
  }, () => {});
  stream.on("data", (chunk: Buffer) => parse(chunk));
  let cursor = 0;
  return {
    jobs,
    async next(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (cursor >= jobs.length) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no job on the HTTP/2 take stream within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return jobs[cursor++]!;
    },
    close() {
      stream.close(http2.constants.NGHTTP2_CANCEL);
    },
  };
}
