import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { BadRequestError, errorForStatus, ServerUnreachableError, UnavailableError, WharfError } from "../errors.js";
import { encodeBody, MEDIA_TYPES } from "../http/codec.js";
import { decodeMsgpack } from "../http/msgpack.js";
import { parseJson } from "../job/json.js";
import type { Job } from "../job/types.js";
import type { CancelFrame } from "../engine/dispatch.js";
import type { WharfEvent } from "../engine/events.js";
import { JobChannel, searchParams, type EventsRequest, type EventStream, type QueryValue, type TakeRequest, type TakeStream, type Transport, type TransportResponse } from "./transport.js";

interface OpenStream<T> {
  channel: JobChannel<T>;
  /** Resolves when the server answered 200; rejects with its error answer, or when the stream broke first. */
  opened: Promise<void>;
  /** Ends the stream: `beforeHangingUp` runs first, given the server's stream id (a take stream's). */
  close(beforeHangingUp?: (streamId: string | undefined) => Promise<void>): Promise<void>;
}

/** TLS for an https:// server: PEM texts (strings or buffers). */
export interface TlsClientOptions {
  /** CA certificates to verify the server by, instead of Node's built-in list (a server certificate from `wharf tls init`, say). */
  ca?: string | Buffer;
  /** A client certificate, for a server with mutual TLS (with `key`). */
  cert?: string | Buffer;
  /** The client certificate's private key, unencrypted. */
  key?: string | Buffer;
}

export interface HttpTransportOptions {
  /** Body encoding for requests and responses. MessagePack is smaller and faster to parse. */
  format?: "json" | "msgpack";
  /** Sockets kept open to the server, at most. */
  maxSockets?: number;
  /** Gives up on a request after this long, in ms. */
  timeoutMs?: number;
  /**
   * A take stream on which nothing (no job, no heartbeat) arrives for this long, in ms, is taken for dead
   * and ends with an error, so a Worker reconnects. Servers send a heartbeat every 3 s by default
   * (`heartbeatMs`); keep this a few heartbeats long. Default 10 s.
   */
  idleTimeoutMs?: number;
  /** A bearer token, sent as `Authorization: Bearer TOKEN` with every request, the take stream's included. */
  token?: string;
  /** For an https:// URL: the CA to trust and the client certificate to present. */
  tls?: TlsClientOptions;
}

type Send = (options: https.RequestOptions, callback?: (response: http.IncomingMessage) => void) => http.ClientRequest;

/** The TLS options, checked: a certificate without its key, or one that is no PEM, fails here rather than at the first request. */
function checkedTls(given: TlsClientOptions): TlsClientOptions {
  if ((given.cert === undefined) !== (given.key === undefined)) throw new WharfError(400, "invalid tls options: cert and key go together");
  try {
    tls.createSecureContext(given);
  } catch (error) {
    throw new WharfError(400, `invalid tls options: ${(error as Error).message}`);
  }
  return given;
}

/** OpenSSL's reason alone ("tlsv13 alert certificate required"), without its code, function, source file and line. */
function readableMessage(error: Error): string {
  return /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):/.exec(error.message)?.[1] ?? error.message;
}

/** Makes a request whose socket stays silent for its `timeout` fail, with an error saying what did not come. */
function failWhenSilent(request: http.ClientRequest, timeoutMs: number, what: string): void {
  request.on("timeout", () => request.destroy(new Error(`${what} within ${timeoutMs} ms`)));
}

function buildPath(path: string, query: Record<string, QueryValue> | undefined): string {
  const search = searchParams(query).toString();
  return search ? `${path}?${search}` : path;
}

/**
 * Splits a length-prefixed MessagePack stream into values; zero-length frames are heartbeats. The
 * chunks of an unfinished frame are kept apart and joined once it is complete, so a large job
 * arriving in many chunks is copied once, not once per chunk.
 */
class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes the frame at the head needs, once its length prefix is known. */
  private needed = 4;

  feed(chunk: Buffer): Array<Job | CancelFrame> {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.needed) return [];
    let pending = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const jobs: Array<Job | CancelFrame> = [];
    let offset = 0;
    this.needed = 4;
    while (pending.length - offset >= 4) {
      const length = pending.readUInt32BE(offset);
      if (pending.length - offset - 4 < length) {
        this.needed = 4 + length;
        break;
      }
      if (length > 0) jobs.push(decodeMsgpack(pending.subarray(offset + 4, offset + 4 + length)) as Job | CancelFrame);
      offset += 4 + length;
    }
    pending = pending.subarray(offset);
    this.chunks = pending.length > 0 ? [pending] : [];
    this.buffered = pending.length;
    return jobs;
  }
}

/** A frame that is no job: a control frame, sent only to streams that asked for them. */
function isControl(value: unknown): value is CancelFrame {
  return (value as Partial<CancelFrame>).control === "cancel";
}

/** Whether `token` can go in an Authorization header: printable ASCII without spaces or control characters. */
export function isTokenText(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}

/** The Authorization header for a token; checked here (never echoed). */
function credentialsOf(token: string | undefined): Record<string, string> {
  if (token === undefined) return {};
  if (!isTokenText(token)) throw new BadRequestError("token must be printable ASCII without spaces: is it the token `wharf token new` printed?");
  return { authorization: `Bearer ${token}` };
}

/** Talks to a Wharf (or Zizq) server over HTTP/1.1 keep-alive connections, in cleartext or TLS (https://). */
export class HttpTransport implements Transport {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly send: Send;
  /** Take streams do not use the agent's pool, so they carry the TLS options themselves. */
  private readonly tlsOptions: TlsClientOptions;
  private readonly format: "json" | "msgpack";
  private readonly timeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly streams = new Set<http.ClientRequest>();
  /** Headers every request carries: the token's. */
  private readonly credentials: Record<string, string>;

  constructor(baseUrl: string, options: HttpTransportOptions = {}) {
    if (!URL.canParse(baseUrl)) throw new WharfError(400, `invalid server URL "${baseUrl}"`);
    this.base = new URL(baseUrl);
    const secure = this.base.protocol === "https:";
    if (!secure && this.base.protocol !== "http:") throw new WharfError(400, `unsupported URL ${baseUrl}: only http:// and https:// are supported`);
    if (!secure && options.tls !== undefined) throw new WharfError(400, `tls options need an https:// URL, not ${baseUrl}`);
    this.tlsOptions = checkedTls(options.tls ?? {});
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    this.agent = secure ? new https.Agent({ ...agentOptions, ...this.tlsOptions }) : new http.Agent(agentOptions);
    this.send = secure ? https.request : http.request;
    this.format = options.format ?? "json";
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
    this.credentials = credentialsOf(options.token);
  }

  request(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown): Promise<TransportResponse> {
    const payload = body === undefined ? undefined : encodeBody(this.format, body);
    const headers: Record<string, string | number> = { ...this.credentials, accept: MEDIA_TYPES[this.format] };
    if (payload) {
      headers["content-type"] = MEDIA_TYPES[this.format];
      headers["content-length"] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const request = this.send(
        { host: this.base.hostname, port: this.base.port, method, path: buildPath(path, query), headers, agent: this.agent, timeout: this.timeoutMs },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("error", (error) => reject(this.unreachable(error)));
          response.on("end", () => {
            try {
              resolve(this.decode(response, Buffer.concat(chunks)));
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      failWhenSilent(request, this.timeoutMs, "no answer");
      request.on("error", (error) => reject(this.unreachable(error)));
      request.end(payload);
    });
  }

  /** The body by its Content-Type; an error status becomes a typed error, whatever the body (a proxy's HTML page, say). */
  private decode(response: http.IncomingMessage, bytes: Buffer): TransportResponse {
    const status = response.statusCode ?? 0;
    const type = response.headers["content-type"] ?? "";
    let body: unknown;
    try {
      if (bytes.length > 0) body = type.startsWith(MEDIA_TYPES.msgpack) ? decodeMsgpack(bytes) : parseJson(bytes.toString("utf8"));
    } catch {
      if (status < 400) throw new UnavailableError(`unreadable ${type || "untyped"} answer from ${this.base.origin} (HTTP ${status})`);
      body = { error: `HTTP ${status}: ${bytes.toString("utf8").slice(0, 200)}` };
    }
    if (status >= 400) {
      const { error, ...details } = (body ?? {}) as { error?: string };
      throw errorForStatus(status, error ?? `HTTP ${status}`, Object.keys(details).length > 0 ? details : undefined, retryAfter(response.headers["retry-after"]));
    }
    return { status, body };
  }

  private unreachable(error: Error): WharfError {
    return new ServerUnreachableError(`cannot reach Wharf at ${this.base.origin}: ${readableMessage(error)}`);
  }

  take(take: TakeRequest): TakeStream {
    const headers: Record<string, string> = take.workerId ? { "worker-id": take.workerId } : {};
    const query: Record<string, QueryValue> = { prefetch: take.prefetch };
    if (take.queues.length > 0) query.queue = take.queues.join(",");
    if (take.types) query.types = take.types.join(",");
    if (take.onControl) query.controls = "true";
    const onControl = take.onControl;
    const stream = this.openStream<Job>("/jobs/take", query, headers, { what: "take stream", unit: "job" }, (values, channel) => {
      // The server sends control frames only when asked (onControl).
      if (!onControl || !values.some(isControl)) return channel.push(values as Job[]);
      for (const value of values) {
        if (isControl(value)) onControl(value);
        else channel.push([value as Job]);
      }
    });
    return {
      [Symbol.asyncIterator]: () => stream.channel[Symbol.asyncIterator](),
      // Ask the server to take the stream's jobs back before we hang up, so they are ready when close() resolves;
      // a Zizq server (no stream id) or an unreachable one still gets them back when it sees the socket close.
      close: () => stream.close(async (streamId) => {
        if (streamId !== undefined) await this.request("POST", `/jobs/take/${streamId}/close`).catch(() => undefined);
      }),
    };
  }

  events({ filter, after }: EventsRequest): EventStream {
    const query: Record<string, QueryValue> = { queue: filter.queues?.join(","), type: filter.types?.join(","), kind: filter.kinds?.join(","), after };
    const stream = this.openStream<WharfEvent>("/events", query, {}, { what: "event stream", unit: "event" }, (values, channel) => channel.push(values as WharfEvent[]));
    return { [Symbol.asyncIterator]: () => stream.channel[Symbol.asyncIterator](), opened: stream.opened, close: () => stream.close() };
  }

  /**
   * A MessagePack stream of `path`: `onValues` gets each batch of values that arrives. The channel ends
   * with the server's error answer, or when the stream breaks or goes silent past the idle timeout.
   */
  private openStream<T>(path: string, query: Record<string, QueryValue>, extraHeaders: Record<string, string>, { what, unit }: { what: string; unit: string }, onValues: (values: unknown[], channel: JobChannel<T>) => void): OpenStream<T> {
    const channel = new JobChannel<T>();
    let answered!: (error?: unknown) => void;
    const opened = new Promise<void>((resolve, reject) => (answered = (error) => (error === undefined ? resolve() : reject(error))));
    opened.catch(() => undefined);
    const end = (error?: unknown): void => {
      answered(error ?? new UnavailableError(`${what} closed before the server answered`));
      channel.end(error);
    };
    const headers: Record<string, string> = { ...this.credentials, ...extraHeaders, accept: MEDIA_TYPES["msgpack-stream"] };
    const request = this.send({ host: this.base.hostname, port: this.base.port, path: buildPath(path, query), headers, timeout: this.idleTimeoutMs, ...this.tlsOptions });
    this.streams.add(request);
    let closed = false;
    let streamId: string | undefined;
    request.on("response", (response) => {
      const idHeader = response.headers["wharf-stream-id"];
      if (typeof idHeader === "string") streamId = idHeader;
      if ((response.statusCode ?? 0) >= 400) {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          try {
            this.decode(response, Buffer.concat(chunks));
          } catch (error) {
            end(error);
          }
        });
        return;
      }
      answered();
      const frames = new FrameReader();
      response.on("data", (chunk: Buffer) => onValues(frames.feed(chunk), channel));
      response.on("end", () => end(closed ? undefined : new UnavailableError(`${what} ended by the server`)));
      response.on("error", (error) => end(closed ? undefined : this.unreachable(error)));
    });
    request.on("error", (error) => end(closed ? undefined : this.unreachable(error)));
    failWhenSilent(request, this.idleTimeoutMs, `no ${unit} or heartbeat on the ${what}`);
    const socketClosed = new Promise<void>((resolve) => request.on("close", () => {
      this.streams.delete(request);
      resolve();
    }));
    request.end();
    return {
      channel,
      opened,
      close: async (beforeHangingUp) => {
        closed = true;
        end();
        await beforeHangingUp?.(streamId);
        request.destroy();
        await socketClosed;
      },
    };
  }

  async close(): Promise<void> {
    for (const stream of this.streams) stream.destroy();
    this.agent.destroy();
  }
}

/** A Retry-After header's delay in seconds; its HTTP-date form, or none, gives undefined. */
function retryAfter(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header);
}
