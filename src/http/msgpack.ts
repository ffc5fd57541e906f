/**
 * MessagePack for JSON-shaped values, as the Zizq clients (Ruby msgpack, rmp-serde, msgpax) write
 * and read it. Written here rather than taken from msgpackr because the wire needs three things it
 * does not do: integers of every width in and out (msgpackr writes an integer past 32 bits as a
 * float64), every value JSON cannot hold kept visible for the validators (msgpackr turns map keys
 * into strings, ext 0 into undefined, a timestamp into a Date), and nothing of msgpackr's own
 * extensions (records, bundles) either way.
 *
 * Decoding: integers up to 2^53 in magnitude are numbers, larger int64/uint64 are BigInt; floats of
 * both widths are numbers. A value JSON cannot hold (bin, ext, a map with a key that is not a
 * string, a string that is not UTF-8) decodes to an Unrepresentable in its place, so the validator
 * of the field it sits in can refuse it by name.
 *
 * Encoding: every integral number or BigInt is written as an integer in the smallest width that
 * holds it (uint64 for positive values past 32 bits, int64 for negative ones past 31 bits); other
 * numbers as float64. An integer beyond 64 bits, which only a JSON payload can hold, is written as
 * the nearest float64. Object properties that are undefined are left out, as JSON.stringify does;
 * bytes (a Uint8Array) are bin.
 */
import { isUtf8 } from "node:buffer";
import { Unrepresentable } from "../job/json.js";

// ---------------------------------------------------------------------------------------------
// Decoding

const MAX_DEPTH = 512;
const TWO_32 = 4294967296;

const EMPTY = Buffer.alloc(0);
let src: Buffer = EMPTY;
let view: DataView = new DataView(src.buffer);
let at = 0;
let end = 0;

class MsgpackError extends Error {}

function truncated(): never {
  throw new MsgpackError(`unexpected end of data at byte ${end}`);
}

/** Decodes one MessagePack value that takes up all of `bytes`. */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  at = 0;
  end = src.length;
  try {
    const value = read(0);
    if (at !== end) throw new MsgpackError(`${end - at} byte(s) after the value`);
    return value;
  } finally {
    src = EMPTY;
  }
}

function need(count: number): void {
  if (at + count > end) truncated();
}

function read(depth: number): unknown {
  if (at >= end) truncated();
  const byte = src[at++]!;
  if (byte < 0x80) return byte;
  if (byte < 0x90) return readMap(byte & 0x0f, depth);
  if (byte < 0xa0) return readArray(byte & 0x0f, depth);
  if (byte < 0xc0) return readString(byte & 0x1f);
  if (byte >= 0xe0) return byte - 0x100;
  let value: number;
  switch (byte) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: need(1); return skip(src[at++]!, "MessagePack binary data (bin 8)");
    case 0xc5: need(2); value = view.getUint16(at); at += 2; return skip(value, "MessagePack binary data (bin 16)");
    case 0xc6: need(4); value = view.getUint32(at); at += 4; return skip(value, "MessagePack binary data (bin 32)");
    case 0xc7: need(1); return readExt(src[at++]!);
    case 0xc8: need(2); value = view.getUint16(at); at += 2; return readExt(value);
    case 0xc9: need(4); value = view.getUint32(at); at += 4; return readExt(value);
    case 0xca: need(4); value = view.getFloat32(at); at += 4; return value;
    case 0xcb: need(8); value = view.getFloat64(at); at += 8; return value;
    case 0xcc: need(1); return src[at++]!;
    case 0xcd: need(2); value = view.getUint16(at); at += 2; return value;
    case 0xce: need(4); value = view.getUint32(at); at += 4; return value;
    case 0xcf: return readUint64();
    case 0xd0: need(1); value = view.getInt8(at); at += 1; return value;
    case 0xd1: need(2); value = view.getInt16(at); at += 2; return value;
    case 0xd2: need(4); value = view.getInt32(at); at += 4; return value;
    case 0xd3: return readInt64();
    case 0xd4: return readExt(1);
    case 0xd5: return readExt(2);
    case 0xd6: return readExt(4);
    case 0xd7: return readExt(8);
    case 0xd8: return readExt(16);
    case 0xd9: need(1); return readString(src[at++]!);
    case 0xda: need(2); value = view.getUint16(at); at += 2; return readString(value);
    case 0xdb: need(4); value = view.getUint32(at); at += 4; return readString(value);
    case 0xdc: need(2); value = view.getUint16(at); at += 2; return readArray(value, depth);
    case 0xdd: need(4); value = view.getUint32(at); at += 4; return readArray(value, depth);
    case 0xde: need(2); value = view.getUint16(at); at += 2; return readMap(value, depth);
    case 0xdf: need(4); value = view.getUint32(at); at += 4; return readMap(value, depth);
    default: throw new MsgpackError(`byte 0xc1 at ${at - 1} is not MessagePack`);
  }
}

function readUint64(): number | bigint {
  need(8);
  const high = view.getUint32(at);
  const low = view.getUint32(at + 4);
  at += 8;
  // Below 2^53 a number holds it exactly.
  return high < 0x200000 ? high * TWO_32 + low : (BigInt(high) << 32n) | BigInt(low);
}

function readInt64(): number | bigint {
  need(8);
  const high = view.getInt32(at);
  const low = view.getUint32(at + 4);
  at += 8;
  return high >= -0x200000 && high < 0x200000 ? high * TWO_32 + low : (BigInt(high) << 32n) | BigInt(low);
}

function skip(length: number, what: string): Unrepresentable {
  need(length);
  at += length;
  return new Unrepresentable(what);
}

function readExt(length: number): Unrepresentable {
  need(1);
  const type = view.getInt8(at++);
  return skip(length, type === -1 ? "a MessagePack timestamp (ext type -1)" : `a MessagePack extension value (ext type ${type})`);
}

/** Buffer's own slicers, without toString's argument checks (they are there in every Node Wharf supports). */
interface Slicers {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** Short ASCII strings (map keys, mostly) seen before, by a hash of their length and bytes. */
const KEY_CACHE_SIZE = 4096;
const keyCache = new Array<string | undefined>(KEY_CACHE_SIZE).fill(undefined);

function readString(length: number): string | Unrepresentable {
  need(length);
  const start = at;
  at += length;
  if (length === 0) return "";
  if (length <= 16) {
    const hash = ((length << 7) ^ (src[start]! << 3) ^ (src[at - 1]! << 9) ^ src[start + (length >> 1)]!) & (KEY_CACHE_SIZE - 1);
    const cached = keyCache[hash];
    if (cached !== undefined && cached.length === length) {
      let index = 0;
      while (index < length && cached.charCodeAt(index) === src[start + index]) index++;
      if (index === length) return cached;
    }
    for (let index = start; index < at; index++) if (src[index]! >= 0x80) return readUtf8(start, at);
    const text = (src as unknown as Slicers).latin1Slice(start, at);
    keyCache[hash] = text;
    return text;
  }
  return readUtf8(start, at);
}

/** Well-formed UTF-8 decodes with no U+FFFD unless it spelled one; only then is it checked strictly. */
function readUtf8(start: number, stop: number): string | Unrepresentable {
  const text = (src as unknown as Slicers).utf8Slice(start, stop);
  if (text.includes("\uFFFD")) {
    if (!isUtf8(src.subarray(start, stop))) return new Unrepresentable("a MessagePack string that is not valid UTF-8");
  }
  return text;
}

function readArray(length: number, depth: number): unknown[] | Unrepresentable {
  if (depth >= MAX_DEPTH) throw new MsgpackError(`nested more than ${MAX_DEPTH} levels deep`);
  if (length > end - at) truncated();
  const array = new Array<unknown>(length);
  for (let index = 0; index < length; index++) array[index] = read(depth + 1);
  return array;
}

function readMap(length: number, depth: number): Record<string, unknown> | Unrepresentable {
  if (depth >= MAX_DEPTH) throw new MsgpackError(`nested more than ${MAX_DEPTH} levels deep`);
  if (length * 2 > end - at) truncated();
  const object: Record<string, unknown> = {};
  let refused: Unrepresentable | undefined;
  for (let index = 0; index < length; index++) {
    const key = read(depth + 1);
    const value = read(depth + 1);
    if (typeof key !== "string") {
      refused ??= new Unrepresentable(
        `a MessagePack map with a key that is not a string (${key instanceof Unrepresentable ? key.what : describeKey(key)})`,
      );
    } else if (key === "__proto__") {
      // An own property, as JSON.parse makes it, not the object's prototype.
      Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
    } else {
      object[key] = value;
    }
  }
  return refused ?? object;
}

function describeKey(key: unknown): string {
  if (key === null) return "nil";
  if (Array.isArray(key)) return "an array";
  if (typeof key === "object") return "a map";
  return `${typeof key} ${String(key)}`;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Output goes into a slab shared by successive encodes; each result is a view of its own part of it. */
const SLAB_SIZE = 64 * 1024;
let out = Buffer.allocUnsafe(SLAB_SIZE);
let outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
let start = 0;
let pos = 0;

/** Encodes a JSON-shaped value (BigInt allowed) as MessagePack. */
export function encodeMsgpack(value: unknown): Buffer {
  if (out.length - pos < 256) newSlab(0);
  start = pos;
  write(value, 0);
  const result = out.subarray(start, pos);
  // Keep the next encode's start 8-aligned, as a fresh allocation would be.
  pos = (pos + 7) & ~7;
  if (pos > out.length) pos = out.length;
  return result;
}

/** `value` as MessagePack after a 4-byte big-endian length: one frame of a msgpack-stream, in one buffer. */
export function encodeMsgpackFrame(value: unknown): Buffer {
  if (out.length - pos < 256) newSlab(0);
  start = pos;
  pos += 4;
  write(value, 0);
  outView.setUint32(start, pos - start - 4);
  const result = out.subarray(start, pos);
  pos = (pos + 7) & ~7;
  if (pos > out.length) pos = out.length;
  return result;
}

/** Moves the encode in progress to a slab with room for `extra` more bytes. */
function newSlab(extra: number): void {
  const used = pos - start;
  const next = Buffer.allocUnsafe(Math.max(SLAB_SIZE, (used + extra) * 2));
  out.copy(next, 0, start, pos);
  out = next;
  outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
  start = 0;
  pos = used;
}

function room(count: number): void {
  if (pos + count > out.length) newSlab(count);
}

function write(value: unknown, depth: number): void {
  switch (typeof value) {
    case "string":
      writeString(value);
      return;
    case "number":
      writeNumber(value);
      return;
    case "boolean":
      room(1);
      out[pos++] = value ? 0xc3 : 0xc2;
      return;
    case "bigint":
      writeBigInt(value);
      return;
    case "object":
      if (value === null) break;
      if (depth >= MAX_DEPTH) throw new TypeError(`cannot encode a value nested more than ${MAX_DEPTH} levels deep`);
      if (Array.isArray(value)) writeArray(value, depth);
      else if (value instanceof Uint8Array) writeBinary(value);
      else writeObject(value as Record<string, unknown>, depth);
      return;
    default:
      // undefined (in an array, as JSON writes it), functions and symbols: nil.
      break;
  }
  room(1);
  out[pos++] = 0xc0;
}

function writeNumber(value: number): void {
  room(9);
  if (Number.isInteger(value)) {
    if (value >= 0) {
      if (value < 0x80) {
        out[pos++] = value;
        return;
      }
      if (value < 0x100) {
        out[pos++] = 0xcc;
        out[pos++] = value;
        return;
      }
      if (value < 0x10000) {
        out[pos++] = 0xcd;
        outView.setUint16(pos, value);
        pos += 2;
        return;
      }
      if (value < TWO_32) {
        out[pos++] = 0xce;
        outView.setUint32(pos, value);
        pos += 4;
        return;
      }
      if (value < 18446744073709551616) {
        const high = Math.floor(value / TWO_32);
        out[pos++] = 0xcf;
        outView.setUint32(pos, high);
        outView.setUint32(pos + 4, value - high * TWO_32);
        pos += 8;
        return;
      }
    } else {
      if (value >= -0x20) {
        out[pos++] = value + 0x100;
        return;
      }
      if (value >= -0x80) {
        out[pos++] = 0xd0;
        outView.setInt8(pos, value);
        pos += 1;
        return;
      }
      if (value >= -0x8000) {
        out[pos++] = 0xd1;
        outView.setInt16(pos, value);
        pos += 2;
        return;
      }
      if (value >= -0x80000000) {
        out[pos++] = 0xd2;
        outView.setInt32(pos, value);
        pos += 4;
        return;
      }
      if (value >= -9223372036854775808) {
        const high = Math.floor(value / TWO_32);
        out[pos++] = 0xd3;
        outView.setInt32(pos, high);
        outView.setUint32(pos + 4, value - high * TWO_32);
        pos += 8;
        return;
      }
    }
  }
  out[pos++] = 0xcb;
  outView.setFloat64(pos, value);
  pos += 8;
}

function writeBigInt(value: bigint): void {
  if (value >= -9007199254740991n && value <= 9007199254740991n) {
    writeNumber(Number(value));
    return;
  }
  room(9);
  if (value > 0n && value < 18446744073709551616n) {
    out[pos++] = 0xcf;
    outView.setBigUint64(pos, value);
  } else if (value < 0n && value >= -9223372036854775808n) {
    out[pos++] = 0xd3;
    outView.setBigInt64(pos, value);
  } else {
    // Past 64 bits MessagePack has no integer: the nearest float64 (JSON keeps every digit).
    out[pos++] = 0xcb;
    outView.setFloat64(pos, Number(value));
  }
  pos += 8;
}

function writeHeader(length: number, fix: number, fixLimit: number, code16: number): void {
  room(5);
  if (length < fixLimit) {
    out[pos++] = fix | length;
  } else if (length < 0x10000) {
    out[pos++] = code16;
    outView.setUint16(pos, length);
    pos += 2;
  } else {
    out[pos++] = code16 + 1;
    outView.setUint32(pos, length);
    pos += 4;
  }
}

/** Bytes as bin: no answer has any, but a client may send them (and be told a payload cannot hold them). */
function writeBinary(bytes: Uint8Array): void {
  room(5 + bytes.length);
  if (bytes.length < 0x100) {
    out[pos++] = 0xc4;
    out[pos++] = bytes.length;
  } else if (bytes.length < 0x10000) {
    out[pos++] = 0xc5;
    outView.setUint16(pos, bytes.length);
    pos += 2;
  } else {
    out[pos++] = 0xc6;
    outView.setUint32(pos, bytes.length);
    pos += 4;
  }
  out.set(bytes, pos);
  pos += bytes.length;
}

function writeArray(array: readonly unknown[], depth: number): void {
  writeHeader(array.length, 0x90, 16, 0xdc);
  for (let index = 0; index < array.length; index++) write(array[index], depth + 1);
}

function writeObject(object: Record<string, unknown>, depth: number): void {
  const keys = Object.keys(object);
  let size = keys.length;
  for (let index = 0; index < keys.length; index++) if (object[keys[index]!] === undefined) size--;
  writeHeader(size, 0x80, 16, 0xde);
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    const item = object[key];
    if (item === undefined) continue;
    writeString(key);
    write(item, depth + 1);
  }
}

function writeString(text: string): void {
  const length = text.length;
  if (length < 32) {
    // Short strings by hand: ASCII is one byte a character and a fixstr; anything else goes the long way.
    room(1 + length);
    let index = 0;
    for (; index < length; index++) {
      const code = text.charCodeAt(index);
      if (code >= 0x80) break;
      out[pos + 1 + index] = code;
    }
    if (index === length) {
      out[pos] = 0xa0 | length;
      pos += 1 + length;
      return;
    }
  }
  // At most three bytes a UTF-16 unit; the header is sized for that and moved up when it was too big.
  const most = length * 3;
  const guess = most < 0x20 ? 1 : most < 0x100 ? 2 : most < 0x10000 ? 3 : 5;
  room(guess + most);
  const bytes = out.write(text, pos + guess, "utf8");
  const header = bytes < 0x20 ? 1 : bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5;
  if (header !== guess) out.copyWithin(pos + header, pos + guess, pos + guess + bytes);
  if (header === 1) {
    out[pos] = 0xa0 | bytes;
  } else if (header === 2) {
    out[pos] = 0xd9;
    out[pos + 1] = bytes;
  } else if (header === 3) {
    out[pos] = 0xda;
    outView.setUint16(pos + 1, bytes);
  } else {
    out[pos] = 0xdb;
    outView.setUint32(pos + 1, bytes);
  }
  pos += header + bytes;
}
