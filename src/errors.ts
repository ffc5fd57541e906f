/**
 * One error hierarchy for every door: the HTTP layer maps `status` to the
 * response code and `message` to `{"error": ...}`; the SDK raises the same
 * classes from responses.
 */
export class WharfError extends Error {
  readonly status: number;
  /** Retryable errors (429, 503) mean "try again later", not "your input is wrong". */
  readonly retryable: boolean;
  /** Extra response fields, such as `not_found` on a partial bulk ack. */
  readonly details: Record<string, unknown> | undefined;
  /** When to try again, in seconds (the Retry-After header); only some retryable errors say. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, message: string, details?: Record<string, unknown>, retryAfterSeconds?: number) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.retryable = status === 429 || status === 503;
    this.details = details;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class BadRequestError extends WharfError {
  constructor(message: string) {
    super(400, message);
  }
}

/** No credentials, or ones that prove nobody (HTTP 401): the request needs a valid bearer token. */
export class UnauthorizedError extends WharfError {
  constructor(message: string) {
    super(401, message);
  }
}

/** The caller is known but may not do this (HTTP 403): a scope its token lacks, a queue outside its queues. */
export class ForbiddenError extends WharfError {
  constructor(message: string) {
    super(403, message);
  }
}

export class NotFoundError extends WharfError {
  constructor(message: string) {
    super(404, message);
  }
}

export class MethodNotAllowedError extends WharfError {
  constructor(message: string) {
    super(405, message);
  }
}

export class NotAcceptableError extends WharfError {
  constructor(message: string) {
    super(406, message);
  }
}

export class ConflictError extends WharfError {
  constructor(message: string) {
    super(409, message);
  }
}

export class PayloadTooLargeError extends WharfError {
  constructor(message: string) {
    super(413, message);
  }
}

export class UnsupportedMediaTypeError extends WharfError {
  constructor(message: string) {
    super(415, message);
  }
}

export class UnprocessableError extends WharfError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(422, message, details);
  }
}

export class OverloadedError extends WharfError {
  constructor(message: string, retryAfterSeconds?: number) {
    super(429, message, undefined, retryAfterSeconds);
  }
}

/** How long a client told its queue is full waits before trying again, in seconds. */
const QUEUE_FULL_RETRY_AFTER_SECONDS = 1;

/**
 * An enqueue that would take a queue past its max_entries (on_full "reject"): nothing of it was written.
 * Retryable: the queue has room again once workers take some of its jobs.
 */
export class QueueFullError extends OverloadedError {
  constructor(readonly queue: string, maxEntries: number) {
    super(`queue ${queue} is full: max_entries ${maxEntries}`, QUEUE_FULL_RETRY_AFTER_SECONDS);
  }
}

export class UnavailableError extends WharfError {
  constructor(message: string) {
    super(503, message);
  }
}

/** The server could not be reached at all: no HTTP exchange happened. Retryable. */
export class ServerUnreachableError extends UnavailableError {}

export class IllegalTransitionError extends UnprocessableError {}

export function errorForStatus(status: number, message: string, details?: Record<string, unknown>, retryAfterSeconds?: number): WharfError {
  switch (status) {
    case 400: return new BadRequestError(message);
    case 401: return new UnauthorizedError(message);
    case 403: return new ForbiddenError(message);
    case 404: return new NotFoundError(message);
    case 405: return new MethodNotAllowedError(message);
    case 406: return new NotAcceptableError(message);
    case 409: return new ConflictError(message);
    case 413: return new PayloadTooLargeError(message);
    case 415: return new UnsupportedMediaTypeError(message);
    case 422: return new UnprocessableError(message, details);
    case 429: return new OverloadedError(message, retryAfterSeconds);
    case 503: return new UnavailableError(message);
    default: return new WharfError(status, message, details);
  }
}

/** A store location Wharf cannot open: not `sqlite:PATH`, `sqlite::memory:` or a `postgres://` / `postgresql://` URL. */
export class InvalidStoreError extends BadRequestError {}

/** A signing or verification key that is not an ed25519 key in PEM form (signingKey, verificationKeys, the key files). */
export class InvalidKeyError extends BadRequestError {}

/** A server without authentication asked to listen where other machines can reach it. */
export class InsecureListenError extends BadRequestError {
  constructor(readonly host: string) {
    super(`refusing to listen on ${host} without authentication: anyone who can reach it could read and change every job. ` +
      "Give tokens (--auth-file FILE; the auth option), require client certificates (--tls-client-ca; tls.clientCa), listen on a loopback address such as 127.0.0.1, or accept the risk with --insecure-no-auth (insecureNoAuth)");
  }
}

/** A Worker set up so it cannot work: no queues to take from, no handler at start, a handler registered after start. */
export class WorkerUsageError extends BadRequestError {}

/** The process that holds a SQLite store, as it recorded itself when it took the file. */
export interface StoreHolder {
  pid: number;
  host: string;
  /** When it took the file, ms since the epoch. */
  since: number;
}

/**
 * A SQLite store another process (or another store in this process) has open. A SQLite file has one
 * writer: two servers on one file would each hand out the other's jobs. Not retryable while the holder runs.
 */
export class StoreInUseError extends ConflictError {
  constructor(readonly path: string, readonly holder: StoreHolder | undefined) {
    const who = holder
      ? `pid ${holder.pid} on host ${holder.host}, since ${new Date(holder.since).toISOString()}`
      : "another process (it has not recorded who it is yet)";
    super(`SQLite store ${path} is in use by ${who}. A SQLite file belongs to one Wharf process: stop that one first, ` +
      "or share a PostgreSQL store (--store postgres://...) between servers");
  }
}
