import { isUtf8 } from "node:buffer";
import { BadRequestError, NotAcceptableError, UnsupportedMediaTypeError } from "../errors.js";
import { parseJson, stringifyJson } from "../job/json.js";
import { decodeMsgpack, encodeMsgpack, encodeMsgpackFrame } from "./msgpack.js";
import type { WharfEvent } from "../engine/events.js";

export type BodyFormat = "json" | "msgpack";
export type StreamFormat = "ndjson" | "msgpack-stream" | "sse";

export const MEDIA_TYPES = {
  json: "application/json",
  msgpack: "application/msgpack",
  ndjson: "application/x-ndjson",
  "msgpack-stream": "application/vnd.zizq.msgpack-stream",
  sse: "text/event-stream",
} as const;

/**
 * MessagePack as every client writes and reads it: plain maps and arrays, integers of every width
 * (see msgpack.ts). `pack` and `unpack` are the names msgpackr gave them, which the tests use.
 */
export const packr = { pack: encodeMsgpack, unpack: decodeMsgpack } as const;

function mediaRanges(header: string | undefined): string[] {
  if (!header) return [];
  return header.split(",").map((part) => part.split(";")[0]!.trim().toLowerCase()).filter((part) => part.length > 0);
}

const BODY_ACCEPTS: Record<string, BodyFormat> = {
  "application/json": "json",
  "application/msgpack": "msgpack",
  "application/x-msgpack": "msgpack",
  "application/*": "json",
  "*/*": "json",
};

/** The first media range of Accept that `accepts` knows, `fallback` when there is no Accept header; NotAcceptableError otherwise. */
function negotiate<F>(accept: string | undefined, accepts: Record<string, F>, fallback: F, refusal: string): F {
  const ranges = mediaRanges(accept);
  if (ranges.length === 0) return fallback;
  for (const range of ranges) {
    const format = accepts[range];
    if (format) return format;
  }
  throw new NotAcceptableError(refusal);
}

/** Chooses the response format from Accept; JSON when there is no Accept header. */
export function negotiateBody(accept: string | undefined): BodyFormat {
  return negotiate(accept, BODY_ACCEPTS, "json", `cannot produce ${accept}; use application/json or application/msgpack`);
}

const STREAM_ACCEPTS: Record<string, StreamFormat> = {
  "application/x-ndjson": "ndjson",
  "application/vnd.zizq.msgpack-stream": "msgpack-stream",
  "text/event-stream": "sse",
  "application/json": "ndjson",
  "application/msgpack": "msgpack-stream",
  "application/*": "ndjson",
  "*/*": "ndjson",
};

export function negotiateStream(accept: string | undefined): StreamFormat {
  return negotiate(accept, STREAM_ACCEPTS, "ndjson", `cannot stream ${accept}; use application/x-ndjson, application/vnd.zizq.msgpack-stream or text/event-stream`);
}

/**
 * Decodes a request body by its Content-Type; an empty body is `undefined`. A body needs a JSON or
 * MessagePack type (415 otherwise, none at all included): text/plain and form bodies are what web
 * pages send unasked, and must not reach the API.
 */
export function decodeBody(contentType: string | undefined, body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const media = mediaRanges(contentType)[0];
  if (media === undefined) throw new UnsupportedMediaTypeError("a request body needs a Content-Type; send application/json or application/msgpack");
  if (media === "application/json") {
    const text = body.toString("utf8");
    // Bytes that are not UTF-8 decode to U+FFFD; a body that spells one is checked strictly, so nothing is altered unseen.
    if (text.includes("\uFFFD") && !isUtf8(body)) throw new BadRequestError("request body is not valid UTF-8");
    try {
      return parseJson(text);
    } catch (error) {
      throw new BadRequestError(`request body is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (media === "application/msgpack" || media === "application/x-msgpack") {
    try {
      return decodeMsgpack(body);
    } catch (error) {
      throw new BadRequestError(`request body is not valid MessagePack: ${(error as Error).message}`);
    }
  }
  throw new UnsupportedMediaTypeError(`unsupported Content-Type ${contentType}; send application/json or application/msgpack`);
}

export function encodeBody(format: BodyFormat, value: unknown): Buffer {
  return format === "json" ? Buffer.from(stringifyJson(value)) : encodeMsgpack(value);
}

/** One event of an event stream: in server-sent events with its id (the client's Last-Event-ID) and kind. */
export function encodeEventFrame(format: StreamFormat, event: WharfEvent): Buffer {
  if (format !== "sse") return encodeFrame(format, event);
  return Buffer.from(`id: ${event.id}\nevent: ${event.kind}\ndata: ${stringifyJson(event)}\n\n`);
}

/** One frame of a take stream; `undefined` is a heartbeat. */
export function encodeFrame(format: StreamFormat, value: unknown): Buffer {
  switch (format) {
    case "ndjson":
      return Buffer.from(value === undefined ? "\n" : `${stringifyJson(value)}\n`);
    case "sse":
      return Buffer.from(value === undefined ? ": heartbeat\n\n" : `data: ${stringifyJson(value)}\n\n`);
    case "msgpack-stream":
      return value === undefined ? Buffer.alloc(4) : encodeMsgpackFrame(value);
  }
}
