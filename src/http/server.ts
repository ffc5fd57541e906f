import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { Duplex } from "node:stream";
import { ForbiddenError, InsecureListenError, PayloadTooLargeError, UnauthorizedError, WharfError } from "../errors.js";
import type { Clock } from "../engine/clock.js";
import { openEngine, type OpenEngineOptions } from "../compose.js";
import type { Engine } from "../engine/engine.js";
import { stringifyJson } from "../job/json.js";
import type { Job } from "../job/types.js";
import { EVENTS_PATH, findRoute, METRICS_PATH, TAKE_PATH, type ApiRequest } from "./api.js";
import { uiAnswer, UI_PATH } from "./ui.js";
import type { EventSink } from "../engine/events.js";
import {
  decodeBody,
  encodeBody,
  encodeEventFrame,
  encodeFrame,
  MEDIA_TYPES,
  negotiateBody,
  negotiateStream,
  type BodyFormat,
  type StreamFormat,
} from "./codec.js";
import { AllowedOrigins, corsHeaders, guardRequest, isLoopbackAddress, isLoopbackHost, preflightHeaders } from "./guard.js";
import { everyVerifiedCertificate } from "./client-certificates.js";
import { authorize, identify, type Identity, type IdentityLimits, type IdentitySource } from "./identity.js";
import { LimitsByIdentity } from "./identity-limits.js";
import { Metrics } from "./metrics.js";
import { chunks, Slicer } from "../slices.js";
import type { ControlSink, JobSink, Subscription } from "../engine/dispatch.js";
import type { LogLevel } from "../log-level.js";
import { createLogger, errorMessage, type Logger } from "../log.js";
import { describeCertificate, loadTlsCredentials, peerIdentity, type TlsCredentials, type TlsOptions } from "./tls.js";

export interface ServerOptions extends Omit<OpenEngineOptions, "observer" | "logger"> {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  clock?: Clock;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** Interval between heartbeat frames on take streams, in ms. */
  heartbeatMs?: number;
  /**
   * How long a client may take to send a request's headers, and on a new connection its first bytes
   * or its TLS handshake, in ms (default 10,000): a slow client cannot hold connections for nothing.
   */
  headerTimeoutMs?: number;
  /** How long a whole request (headers and body) may take to arrive, in ms (default 60,000). */
  bodyTimeoutMs?: number;
  /**
   * Connections open at once, at most (default 20,000), whatever their protocol; one more is closed as
   * it arrives, before anything is read from it, and logged (at most once a second).
   */
  maxConnections?: number;
  /** Least severe level logged to standard output; default "info". Not used when `logger` is given. */
  logLevel?: LogLevel;
  /** Where the server logs instead, at the logger's own level: a pino logger, say, or a child of one. */
  logger?: Logger;
  /** HTTPS instead of cleartext HTTP, from these PEM files; with `clientCa`, mutual TLS. */
  tls?: TlsOptions;
  /**
   * Who may call the API: an auth file (AuthFile.load(path)) or any IdentitySource. Without it, on a
   * server with mutual TLS (`tls.clientCa`) every client the client CA vouches for may do anything;
   * on one without, anyone who reaches the port may, so it listens on a loopback address only, unless
   * insecureNoAuth.
   */
  auth?: IdentitySource;
  /** Listen on any host without `auth` or mutual TLS: for a network where only trusted clients reach the port. */
  insecureNoAuth?: boolean;
  /**
   * Web origins (`https://ops.example.com`) whose pages may call the API from a browser: their
   * mutations pass the browser guard (guard.ts), their CORS preflights are answered, their host
   * names are served on loopback, and answers to them carry CORS headers. Tokens are still needed
   * where the server has auth. Throws InvalidOriginError for a value that is not an origin.
   */
  allowedOrigins?: readonly string[];
  /**
   * Limits for each identity whose auth-file entry sets none (`rate`, `maxTakeStreams`); none by default.
   * Callers of a server without identities (no auth, no mutual TLS) have no limits of their own.
   */
  identityLimits?: IdentityLimits;
}

export interface WharfServer {
  readonly url: string;
  readonly port: number;
  readonly engine: Engine;
  readonly logger: Logger;
  /**
   * Reads the TLS files again (as on SIGHUP): handshakes from now on use them, open connections and their
   * take streams carry on. False when the files cannot be used: that is logged and the certificate in use
   * stays. Throws on a server started without `tls`.
   */
  reloadTls(): boolean;
  close(): Promise<void>;
}

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

function readBody(request: Request, limit: number): Promise<Buffer> {
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > limit) return Promise.reject(new PayloadTooLargeError(`request body of ${declared} bytes exceeds the ${limit}-byte limit`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new PayloadTooLargeError(`request body exceeds the ${limit}-byte limit`));
        request.removeAllListeners("data");
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks, size)));
    request.on("error", reject);
  });
}

function header(request: Request, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** The path a request asked for, without its query, as logs show it. */
function pathOf(request: Request): string {
  return (request.url ?? "/").split("?", 1)[0]!;
}

/** Items of a long array encoded between yields to the event loop. */
const ENCODE_SLICE = 500;

/**
 * An answer that is one long array under one key (a bulk enqueue's {"jobs": [...]}) is encoded a
 * slice of items at a time, so 50,000 of them do not hold up other requests; the bytes are the same.
 */
async function encodeInSlices(format: BodyFormat, body: unknown): Promise<Buffer> {
  const entries = typeof body === "object" && body !== null && !Array.isArray(body) ? Object.entries(body) : [];
  const [only] = entries;
  if (entries.length !== 1 || !Array.isArray(only![1]) || only![1].length <= ENCODE_SLICE) return encodeBody(format, body);
  const [key, items] = only as [string, unknown[]];
  const slicer = new Slicer();
  const parts: Buffer[] = [];
  if (format === "json") {
    parts.push(Buffer.from(`{${stringifyJson(key)}:[`));
    let separator = "";
    for (const slice of chunks(items, ENCODE_SLICE)) {
      parts.push(Buffer.from(`${separator}${stringifyJson(slice).slice(1, -1)}`));
      separator = ",";
      await slicer.pause();
    }
    parts.push(Buffer.from("]}"));
  } else {
    const header = Buffer.alloc(5);
    header[0] = 0xdd;
    header.writeUInt32BE(items.length, 1);
    parts.push(Buffer.from([0x81]), Buffer.from(encodeBody(format, key)), header);
    for (const slice of chunks(items, ENCODE_SLICE)) {
      for (const item of slice) parts.push(Buffer.from(encodeBody(format, item)));
      await slicer.pause();
    }
  }
  return Buffer.concat(parts);
}

async function send(response: Response, status: number, format: BodyFormat, body: unknown): Promise<void> {
  if (body === undefined) {
    response.writeHead(status);
    response.end();
    return;
  }
  writeEncoded(response, status, format, await encodeInSlices(format, body));
}

function writeEncoded(response: Response, status: number, format: BodyFormat, encoded: Buffer, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { ...headers, "content-type": MEDIA_TYPES[format], "content-length": encoded.length });
  response.end(encoded);
}

/** RFC 6750: a 401 names the scheme it wants, and says when a token was given but is no good. */
function challenge(error: WharfError, hadCredentials: boolean): http.OutgoingHttpHeaders {
  if (!(error instanceof UnauthorizedError)) return {};
  return { "www-authenticate": hadCredentials ? 'Bearer realm="wharf", error="invalid_token"' : 'Bearer realm="wharf"' };
}

/** The headers an error answer carries: a 401's challenge, a retryable error's Retry-After. */
function errorHeaders(request: Request, error: WharfError): http.OutgoingHttpHeaders {
  const headers = challenge(error, request.headers.authorization !== undefined);
  return error.retryAfterSeconds === undefined ? headers : { ...headers, "retry-after": String(error.retryAfterSeconds) };
}

function sendError(request: Request, response: Response, format: BodyFormat, error: WharfError): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  writeEncoded(response, error.status, format, encodeBody(format, { error: error.message, ...error.details }), errorHeaders(request, error));
}

class RequestHandler {
  readonly handle: (request: Request, response: Response) => void;

  constructor(
    private readonly engine: Engine,
    private readonly metrics: Metrics,
    private readonly maxBodyBytes: number,
    private readonly heartbeatMs: number,
    private readonly logger: Logger,
    /** Bound to a loopback address: Host must name this machine (see guard.ts). */
    private readonly loopbackOnly: () => boolean,
    /** Who callers are; undefined: a server without auth, where anyone may do anything. */
    private readonly identities: IdentitySource | undefined,
    private readonly limits: LimitsByIdentity,
    /** The scheme of the server's own origin (see guard.ts). */
    private readonly scheme: "http" | "https",
    private readonly allowedOrigins: AllowedOrigins,
  ) {
    // Picked once: with debug off, the request log costs a request nothing.
    this.handle = logger.isLevelEnabled("debug")
      ? (request, response) => {
        this.logWhenDone(request, response);
        void this.serve(request, response);
      }
      : (request, response) => void this.serve(request, response);
  }

  /** One debug line per request once its response ends (a take stream's when it closes): never the body. */
  private logWhenDone(request: Request, response: Response): void {
    const started = performance.now();
    const peer = peerIdentity(request)?.commonName;
    response.once("close", () => {
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      this.logger.debug({ method: request.method, path: pathOf(request), status: response.statusCode, duration_ms: durationMs, peer }, "request");
    });
  }

  private async serve(request: Request, response: Response): Promise<void> {
    let format: BodyFormat = "json";
    let identity: Identity | undefined;
    const method = request.method ?? "GET";
    try {
      const origin = header(request, "origin");
      guardRequest({
        method,
        scheme: this.scheme,
        host: header(request, ":authority") ?? header(request, "host"),
        origin,
        secFetchSite: header(request, "sec-fetch-site"),
      }, this.loopbackOnly(), this.allowedOrigins);
      if (method === "OPTIONS" && header(request, "access-control-request-method") !== undefined) {
        response.writeHead(204, preflightHeaders(origin, this.allowedOrigins));
        response.end();
        return;
      }
      if (this.allowedOrigins.has(origin)) for (const [name, value] of Object.entries(corsHeaders(origin))) response.setHeader(name, value);
      const url = new URL(request.url ?? "/", "http://wharf");
      // The dashboard's files are open to anyone: they hold no data (the page calls the API with a token).
      if (url.pathname === UI_PATH || url.pathname.startsWith(`${UI_PATH}/`)) return sendUiFile(response, uiAnswer(url.pathname, method));
      const routed = findRoute(method, url.pathname);
      // Before the body is read: a caller who may not call this does not get to send 16 MiB first.
      if (this.identities && routed.access.scope !== null) {
        identity = identify(request, this.identities);
        // Refused requests count too: a caller cannot spend the server's time on 403s instead.
        this.limits.admitRequest(identity);
        this.admitConnection(identity, request, response);
        authorize(identity, routed.access);
      }
      const isStream = url.pathname === TAKE_PATH || url.pathname === EVENTS_PATH;
      const streamFormat = isStream ? negotiateStream(header(request, "accept")) : undefined;
      if (!isStream && url.pathname !== METRICS_PATH) format = negotiateBody(header(request, "accept"));
      const raw = await readBody(request, this.maxBodyBytes);
      const body = decodeBody(header(request, "content-type"), raw);
      const apiRequest: ApiRequest = { method, path: url.pathname, query: url.searchParams, body };
      const workerId = header(request, "worker-id");
      if (workerId !== undefined) apiRequest.workerId = workerId;
      const lastEventId = header(request, "last-event-id");
      if (lastEventId !== undefined) apiRequest.lastEventId = lastEventId;
      const result = await routed.run(this.engine, identity, apiRequest);
      if (result.kind === "take") this.stream(request, response, result.open, result.controls, streamFormat!, identity);
      else if (result.kind === "events") this.eventStream(request, response, result.open, streamFormat!);
      else if (result.kind === "metrics") await this.sendMetrics(response);
      else await send(response, result.status, format, result.body);
    } catch (error) {
      if (error instanceof WharfError) {
        if (error instanceof UnauthorizedError || error instanceof ForbiddenError) {
          this.logger.debug({ method, path: pathOf(request), identity: identity?.name, status: error.status, reason: error.message }, "request denied");
        }
        sendError(request, response, format, error);
        return;
      }
      this.logger.error({ method: request.method, url: request.url, error: errorMessage(error) }, "request failed");
      sendError(request, response, format, new WharfError(500, "internal server error"));
    }
  }

  /** A connection one identity may not have is answered and then closed, rather than left open to be refused again. */
  private admitConnection(identity: Identity, request: Request, response: Response): void {
    const h2 = "stream" in request ? request.stream.session : undefined;
    try {
      this.limits.admitConnection(identity, h2 ?? request.socket);
    } catch (error) {
      if (h2) response.once("finish", () => h2.close());
      else response.setHeader("connection", "close");
      throw error;
    }
  }

  private async sendMetrics(response: Response): Promise<void> {
    const { contentType, body } = await this.metrics.render();
    response.writeHead(200, { "content-type": contentType });
    response.end(body);
  }

  /**
   * An event stream: events as they come, heartbeats between. A client that reads slower than events
   * come is cut off once MAX_EVENT_BACKLOG bytes wait for it, rather than held in memory without end:
   * it reconnects with Last-Event-ID and is told what it missed.
   */
  private eventStream(request: Request, response: Response, open: (sink: EventSink) => () => void, format: StreamFormat): void {
    const out = response as unknown as { write(chunk: Buffer): boolean; writableLength: number; destroy(): void };
    const frames: Buffer[] = [];
    let write = (chunk: Buffer): void => void frames.push(chunk);
    // Watching before the headers go: a client that has them misses nothing that happens after.
    const stop = open((events) => {
      write(Buffer.concat(events.map((event) => encodeEventFrame(format, event))));
      if (out.writableLength > MAX_EVENT_BACKLOG) out.destroy();
    });
    response.writeHead(200, { "content-type": MEDIA_TYPES[format], "cache-control": "no-store" });
    out.write(encodeFrame(format, undefined));
    write = (chunk) => void out.write(chunk);
    for (const frame of frames) write(frame);
    const heartbeat = setInterval(() => out.write(encodeFrame(format, undefined)), this.heartbeatMs);
    heartbeat.unref();
    const closed = (): void => {
      clearInterval(heartbeat);
      stop();
    };
    response.once("close", closed);
    request.once("error", closed);
  }

  private stream(request: Request, response: Response, open: (sink: JobSink, control?: ControlSink) => Subscription, controls: boolean, format: StreamFormat, identity: Identity | undefined): void {
    // The HTTP/1 and HTTP/2 response types share write(Buffer) but not one declared signature.
    const out = response as unknown as { write(chunk: Buffer): boolean };
    const write = (jobs: Job[]): void => {
      const frames = jobs.map((job) => encodeFrame(format, job));
      out.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    };
    const control: ControlSink | undefined = controls ? (frame) => out.write(encodeFrame(format, frame)) : undefined;
    const release = identity === undefined ? () => undefined : this.limits.holdTakeStream(identity);
    let subscription: Subscription;
    try {
      subscription = open(write, control);
    } catch (error) {
      release();
      throw error;
    }
    response.writeHead(200, { "content-type": MEDIA_TYPES[format], "cache-control": "no-store", "wharf-stream-id": subscription.id });
    const heartbeat = setInterval(() => out.write(encodeFrame(format, undefined)), this.heartbeatMs);
    heartbeat.unref();
    // Flush headers and one heartbeat so clients see the stream open at once.
    out.write(encodeFrame(format, undefined));
    const closed = (): void => {
      clearInterval(heartbeat);
      release();
      void subscription.close();
    };
    response.once("close", closed);
    request.once("error", closed);
  }
}

/**
 * The socket as a stream that first yields `head`, the bytes read to tell
 * HTTP/2 from HTTP/1.1. HTTP/2 sessions read a plain socket's native handle
 * directly and would never see bytes pushed back with unshift().
 */
function replaying(socket: net.Socket, head: Buffer): Duplex {
  const stream = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, done) => void socket.write(chunk, done),
    final: (done) => void socket.end(done),
    destroy: (error, done) => {
      socket.destroy(error ?? undefined);
      done(error);
    },
  });
  stream.push(head);
  socket.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("error", (error) => stream.destroy(error));
  socket.on("close", () => stream.destroy());
  return stream;
}

function clientErrorAnswer(code: string | undefined): [status: string, message: string] {
  if (code === "HPE_HEADER_OVERFLOW") return ["431 Request Header Fields Too Large", "request headers too large"];
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") return ["408 Request Timeout", "the request did not arrive in time (--header-timeout-ms, --body-timeout-ms)"];
  return ["400 Bad Request", `malformed HTTP request (${code ?? "parse error"})`];
}

/** Answers what Node's HTTP/1 parser refuses (an unknown method, a malformed header) with an {"error"} body too. */
function answerClientErrors(http1: http.Server): void {
  http1.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || (error.code === "ECONNRESET" && !("bytesParsed" in error))) {
      socket.destroy();
      return;
    }
    const [status, message] = clientErrorAnswer(error.code);
    const body = JSON.stringify({ error: message });
    // Closed once the answer is out, not left half-open for a client that never reads it.
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy());
  });
}

/** Cleartext HTTP/1.1 and HTTP/2 with prior knowledge (h2c), told apart by the HTTP/2 connection preface. */
function cleartextListener(http1: http.Server, http2Server: http2.Http2Server, firstBytesTimeoutMs: number): net.Server {
  // No Nagle delay on any socket: HTTP/2 sessions get the raw socket through `replaying`, which the HTTP/1 server's own noDelay never reaches.
  return net.createServer({ noDelay: true }, (socket) => {
    // Until it says which protocol it speaks, a connection is no server's to time out: this one does.
    socket.setTimeout(firstBytesTimeoutMs, () => socket.destroy());
    socket.once("data", (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      const isHttp2 = chunk.subarray(0, HTTP2_PREFACE.length).equals(HTTP2_PREFACE.subarray(0, Math.min(chunk.length, HTTP2_PREFACE.length)));
      if (isHttp2) {
        http2Server.emit("connection", replaying(socket, chunk));
        return;
      }
      socket.unshift(chunk);
      http1.emit("connection", socket);
      socket.resume();
    });
  });
}

const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
function sendUiFile(response: Response, { headers, body }: ReturnType<typeof uiAnswer>): void {
  response.writeHead(200, headers);
  if (body) response.end(body);
  else response.end();
}

const DEFAULT_MAX_CONNECTIONS = 20_000;
/** Bytes of events waiting for a slow event-stream client, at most, before it is cut off. */
const MAX_EVENT_BACKLOG = 16 * 1024 * 1024;

/**
 * Past `max` open connections the listener closes new ones at once (Node's own check, before a TLS
 * handshake or a byte is read), so a flood of connections costs a file descriptor for an instant.
 */
function capConnections(server: net.Server, max: number, metrics: Metrics, logger: Logger, clock: Clock): void {
  server.maxConnections = max;
  let lastLoggedAt = -Infinity;
  server.on("drop", (drop?: { remoteAddress?: string }) => {
    metrics.connectionRefused();
    const now = clock.now();
    if (now - lastLoggedAt < 1000) return;
    lastLoggedAt = now;
    logger.warn({ max, address: drop?.remoteAddress }, "connection refused: the server holds --max-connections");
  });
}
const DEFAULT_BODY_TIMEOUT_MS = 60_000;

/** The HTTP/1 server's limits on slow clients; Node checks them at an interval, here a second at most. */
function readTimeouts(headerTimeoutMs: number, bodyTimeoutMs: number): http.ServerOptions {
  return {
    keepAliveTimeout: 65_000,
    headersTimeout: headerTimeoutMs,
    // Node refuses a whole-request limit shorter than the headers' one.
    requestTimeout: Math.max(headerTimeoutMs, bodyTimeoutMs),
    connectionsCheckingInterval: Math.min(1000, headerTimeoutMs),
  };
}

/** The TLS settings of a context: the server's certificate and, for mutual TLS, the CA client certificates must come from. */
function secureContextOf(credentials: TlsCredentials): tls.SecureContextOptions {
  return { cert: credentials.cert, key: credentials.key, ca: credentials.ca };
}

/** HTTPS: HTTP/2 or HTTP/1.1 as ALPN chose (a client that offers no ALPN gets HTTP/1.1); with a client CA, mutual TLS. */
function tlsListener(http1: http.Server, http2Server: http2.Http2Server, credentials: TlsCredentials, handshakeTimeoutMs: number, logger: Logger): tls.Server {
  const mutual = credentials.ca !== undefined;
  const server = tls.createServer({
    ...secureContextOf(credentials),
    handshakeTimeout: handshakeTimeoutMs,
    noDelay: true,
    ALPNProtocols: ["h2", "http/1.1"],
    requestCert: mutual,
    rejectUnauthorized: mutual,
  }, (socket) => (socket.alpnProtocol === "h2" ? http2Server : http1).emit("connection", socket));
  server.on("tlsClientError", (error, socket) => {
    logger.debug({ error: error.message, reason: socket.authorizationError ?? undefined, address: socket.remoteAddress }, "tls handshake failed");
  });
  return server;
}

/** Reads the TLS files again; new handshakes use them, open connections keep theirs. False (logged) when they cannot be used. */
function reloadTls(server: tls.Server, options: TlsOptions, logger: Logger): boolean {
  try {
    const credentials = loadTlsCredentials(options);
    server.setSecureContext(secureContextOf(credentials));
    logger.info(describeCertificate(credentials.certificate), "tls reloaded");
    return true;
  } catch (error) {
    logger.error({ error: errorMessage(error) }, "tls reload failed");
    return false;
  }
}

/**
 * Starts the HTTP server: HTTP/1.1 and HTTP/2 on one port, cleartext (HTTP/2 with prior knowledge) or,
 * with `tls`, HTTPS. Rejects with InvalidTlsError when a TLS file cannot be used.
 */
export async function startServer(options: ServerOptions = {}): Promise<WharfServer> {
  const { host, port, maxBodyBytes, heartbeatMs, headerTimeoutMs, bodyTimeoutMs, maxConnections, logLevel, logger: given, tls: tlsOptions, auth, insecureNoAuth, allowedOrigins, identityLimits, ...engineOptions } = options;
  const allowed = new AllowedOrigins(allowedOrigins);
  const listenHost = host ?? "127.0.0.1";
  // A required client certificate is authentication: the client CA vouches for whoever connects.
  const identities = auth ?? (tlsOptions?.clientCa === undefined ? undefined : everyVerifiedCertificate);
  if (!identities && !insecureNoAuth && !isLoopbackAddress(listenHost) && !isLoopbackHost(listenHost)) throw new InsecureListenError(listenHost);
  const credentials = tlsOptions === undefined ? undefined : loadTlsCredentials(tlsOptions);
  const logger = given ?? createLogger({ level: logLevel ?? "info" });
  const metrics = new Metrics();
  const engine = await openEngine({ maxFoldedPayloadBytes: maxBodyBytes, ...engineOptions, observer: metrics.observer, logger });
  metrics.attach(engine);
  let loopbackOnly = false;
  const scheme = credentials === undefined ? "http" : "https";
  const limits = new LimitsByIdentity(engine.clock, identityLimits);
  const handler = new RequestHandler(engine, metrics, maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, heartbeatMs ?? 3000, logger, () => loopbackOnly, identities, limits, scheme, allowed);
  const headerTimeout = headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS;
  const http1 = http.createServer(readTimeouts(headerTimeout, bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS), handler.handle);
  answerClientErrors(http1);
  // Node checks headersTimeout and requestTimeout from a timer it starts when the server listens; this
  // one never does (the listener below hands it connections), so it is told it listens.
  http1.emit("listening");
  const http2Server = http2.createServer({}, handler.handle);
  const secure = credentials === undefined ? undefined : tlsListener(http1, http2Server, credentials, headerTimeout, logger);
  const server = secure ?? cleartextListener(http1, http2Server, headerTimeout);
  capConnections(server, maxConnections ?? DEFAULT_MAX_CONNECTIONS, metrics, logger, engine.clock);
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port ?? 7890, listenHost, () => resolve());
    });
  } catch (error) {
    // A port in use: the store is let go, so the caller may try again (or another process may open it).
    await engine.close();
    throw error;
  }
  const address = server.address() as net.AddressInfo;
  loopbackOnly = isLoopbackAddress(address.address);
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `${scheme}://${hostForUrl}:${address.port}`;
  if (credentials !== undefined) logger.info({ ...describeCertificate(credentials.certificate), mutual: credentials.ca !== undefined }, "tls");
  logger.info({ url, address: address.address, port: address.port, auth: identities !== undefined }, "listening");
  return {
    url,
    port: address.port,
    engine,
    logger,
    reloadTls() {
      if (secure === undefined || tlsOptions === undefined) throw new Error("this server was started without TLS: there is nothing to reload");
      return reloadTls(secure, tlsOptions, logger);
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      await engine.close();
      logger.info({ url }, "closed");
    },
  };
}
