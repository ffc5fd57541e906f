/**
 * MessagePack byte by byte, independent of the server's codec. `msgpackBytes` encodes a value
 * where each number may choose its wire type (`wire("uint64", 5)`), and raw bin, ext and maps
 * with any keys can be spelled out; `wireTypes` reads an encoded value back and reports the wire
 * type of every number in it by path, so a test can see that an integer went out as an integer.
 */

export const INT_WIRES = ["fixint", "negfixint", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"] as const;
export const FLOAT_WIRES = ["float32", "float64"] as const;
export type IntWire = (typeof INT_WIRES)[number];
export type NumberWire = IntWire | (typeof FLOAT_WIRES)[number];

/** Range of each integer wire type, inclusive. */
const INT_RANGES: Record<IntWire, [bigint, bigint]> = {
  fixint: [0n, 127n],
  negfixint: [-32n, -1n],
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
  uint64: [0n, 18446744073709551615n],
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  int64: [-9223372036854775808n, 9223372036854775807n],
};

/** Whether `value` fits `type` (floats: whether float32/float64 holds it exactly). */
export function fits(type: NumberWire, value: number | bigint): boolean {
  if (type === "float64") return typeof value === "number" || Number(value) === Number(value) && BigInt(Number(value)) === value;
  if (type === "float32") return Math.fround(Number(value)) === Number(value) || Number.isNaN(Number(value));
  if (typeof value === "number" && !Number.isInteger(value)) return false;
  const [min, max] = INT_RANGES[type];
  const big = BigInt(value);
  return big >= min && big <= max;
}

class Wired {
  constructor(readonly type: NumberWire, readonly value: number | bigint) {}
}
class Raw {
  constructor(readonly bytes: Buffer) {}
}
class Entries {
  constructor(readonly entries: ReadonlyArray<readonly [unknown, unknown]>) {}
}

/** A number written as `type`, whatever its value would be written as by default. */
export function wire(type: NumberWire, value: number | bigint): unknown {
  if (!fits(type, value)) throw new RangeError(`${value} does not fit ${type}`);
  return new Wired(type, value);
}

/** Bytes put in as they are: bin, ext, or anything else a test needs spelled out. */
export function raw(bytes: Buffer | number[]): unknown {
  return new Raw(Buffer.from(bytes));
}

export function bin(bytes: number[]): unknown {
  return raw([0xc4, bytes.length, ...bytes]);
}

/** An ext value of `type` with `data` (fixext when the length allows, ext 8 otherwise). */
export function ext(type: number, data: number[]): unknown {
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  const typeByte = type & 0xff;
  const code = fixed[data.length];
  return raw(code === undefined ? [0xc7, data.length, typeByte, ...data] : [code, typeByte, ...data]);
}

/** A map whose keys may be anything, in this order. */
export function mapOf(entries: ReadonlyArray<readonly [unknown, unknown]>): unknown {
  return new Entries(entries);
}

function header(length: number, fix: number, fixLimit: number, codes: [number, number, number] | [null, number, number]): Buffer {
  if (length < fixLimit) return Buffer.from([fix | length]);
  const [code8, code16, code32] = codes;
  if (code8 !== null && length < 0x100) return Buffer.from([code8, length]);
  if (length < 0x10000) return Buffer.from([code16, length >> 8, length & 0xff]);
  const out = Buffer.alloc(5);
  out[0] = code32;
  out.writeUInt32BE(length, 1);
  return out;
}

function number(type: NumberWire, value: number | bigint): Buffer {
  const out = Buffer.alloc(9);
  const big = typeof value === "bigint" ? value : Number.isInteger(value) ? BigInt(value) : 0n;
  switch (type) {
    case "fixint": return Buffer.from([Number(big)]);
    case "negfixint": return Buffer.from([Number(big) & 0xff]);
    case "uint8": out[0] = 0xcc; out.writeUInt8(Number(big), 1); return out.subarray(0, 2);
    case "uint16": out[0] = 0xcd; out.writeUInt16BE(Number(big), 1); return out.subarray(0, 3);
    case "uint32": out[0] = 0xce; out.writeUInt32BE(Number(big), 1); return out.subarray(0, 5);
    case "uint64": out[0] = 0xcf; out.writeBigUInt64BE(big, 1); return out;
    case "int8": out[0] = 0xd0; out.writeInt8(Number(big), 1); return out.subarray(0, 2);
    case "int16": out[0] = 0xd1; out.writeInt16BE(Number(big), 1); return out.subarray(0, 3);
    case "int32": out[0] = 0xd2; out.writeInt32BE(Number(big), 1); return out.subarray(0, 5);
    case "int64": out[0] = 0xd3; out.writeBigInt64BE(big, 1); return out;
    case "float32": out[0] = 0xca; out.writeFloatBE(Number(value), 1); return out.subarray(0, 5);
    case "float64": out[0] = 0xcb; out.writeDoubleBE(Number(value), 1); return out;
  }
}

/** The smallest integer wire type for an integer; float64 for anything else. */
export function smallestWire(value: number | bigint): NumberWire {
  if (typeof value === "number" && !Number.isInteger(value)) return "float64";
  const order: IntWire[] = ["fixint", "negfixint", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"];
  return order.find((type) => fits(type, value)) ?? "float64";
}

/** Encodes `value`: plain objects as maps (keys in order), arrays, strings, null, booleans, numbers (smallest wire type unless `wire` says). */
export function msgpackBytes(value: unknown): Buffer {
  if (value instanceof Wired) return number(value.type, value.value);
  if (value instanceof Raw) return value.bytes;
  if (value === null || value === undefined) return Buffer.from([0xc0]);
  if (value === true) return Buffer.from([0xc3]);
  if (value === false) return Buffer.from([0xc2]);
  if (typeof value === "number" || typeof value === "bigint") return number(smallestWire(value), value);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([header(bytes.length, 0xa0, 32, [0xd9, 0xda, 0xdb]), bytes]);
  }
  if (Array.isArray(value)) return Buffer.concat([header(value.length, 0x90, 16, [null, 0xdc, 0xdd]), ...value.map(msgpackBytes)]);
  const entries = value instanceof Entries ? value.entries : Object.entries(value as object);
  return Buffer.concat([header(entries.length, 0x80, 16, [null, 0xde, 0xdf]), ...entries.flatMap(([key, item]) => [msgpackBytes(key), msgpackBytes(item)])]);
}

export type WireType = NumberWire | "nil" | "bool" | "str" | "bin" | "ext" | "array" | "map";

export interface WireValue {
  type: WireType;
  value: unknown;
}

/**
 * Reads `bytes` and reports the wire type of every scalar by path ("ready_at", "jobs[0].payload.n");
 * `value` is what was read (integers as BigInt when past 2^53). Throws on bytes that are not one
 * well-formed MessagePack value.
 */
export function wireTypes(bytes: Buffer): Map<string, WireValue> {
  const found = new Map<string, WireValue>();
  let at = 0;
  const take = (count: number): Buffer => {
    if (at + count > bytes.length) throw new Error(`truncated at ${at}`);
    const slice = bytes.subarray(at, at + count);
    at += count;
    return slice;
  };
  const int = (value: bigint): number | bigint => (value >= -(2n ** 53n) && value <= 2n ** 53n ? Number(value) : value);
  const read = (path: string): unknown => {
    const code = take(1)[0]!;
    const note = (type: WireType, value: unknown): unknown => {
      found.set(path, { type, value });
      return value;
    };
    const container = (length: number, isMap: boolean): unknown => {
      if (!isMap) return Array.from({ length }, (_, index) => read(`${path}[${index}]`));
      const object: Record<string, unknown> = {};
      for (let index = 0; index < length; index++) {
        const key = read(`${path}{key}`);
        object[String(key)] = read(path === "" ? String(key) : `${path}.${String(key)}`);
      }
      found.delete(`${path}{key}`);
      return object;
    };
    if (code < 0x80) return note("fixint", code);
    if (code < 0x90) return container(code & 0x0f, true);
    if (code < 0xa0) return container(code & 0x0f, false);
    if (code < 0xc0) return note("str", take(code & 0x1f).toString("utf8"));
    if (code >= 0xe0) return note("negfixint", code - 0x100);
    switch (code) {
      case 0xc0: return note("nil", null);
      case 0xc2: return note("bool", false);
      case 0xc3: return note("bool", true);
      case 0xc4: return note("bin", take(take(1)[0]!));
      case 0xc5: return note("bin", take(take(2).readUInt16BE(0)));
      case 0xc6: return note("bin", take(take(4).readUInt32BE(0)));
      case 0xc7: { const length = take(1)[0]!; take(1); return note("ext", take(length)); }
      case 0xc8: { const length = take(2).readUInt16BE(0); take(1); return note("ext", take(length)); }
      case 0xc9: { const length = take(4).readUInt32BE(0); take(1); return note("ext", take(length)); }
      case 0xca: return note("float32", take(4).readFloatBE(0));
      case 0xcb: return note("float64", take(8).readDoubleBE(0));
      case 0xcc: return note("uint8", take(1)[0]);
      case 0xcd: return note("uint16", take(2).readUInt16BE(0));
      case 0xce: return note("uint32", take(4).readUInt32BE(0));
      case 0xcf: return note("uint64", int(take(8).readBigUInt64BE(0)));
      case 0xd0: return note("int8", take(1).readInt8(0));
      case 0xd1: return note("int16", take(2).readInt16BE(0));
      case 0xd2: return note("int32", take(4).readInt32BE(0));
      case 0xd3: return note("int64", int(take(8).readBigInt64BE(0)));
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: {
        take(1);
        return note("ext", take(2 ** (code - 0xd4)));
      }
      case 0xd9: return note("str", take(take(1)[0]!).toString("utf8"));
      case 0xda: return note("str", take(take(2).readUInt16BE(0)).toString("utf8"));
      case 0xdb: return note("str", take(take(4).readUInt32BE(0)).toString("utf8"));
      case 0xdc: return container(take(2).readUInt16BE(0), false);
      case 0xdd: return container(take(4).readUInt32BE(0), false);
      case 0xde: return container(take(2).readUInt16BE(0), true);
      case 0xdf: return container(take(4).readUInt32BE(0), true);
      default: throw new Error(`0x${code.toString(16)} at ${at - 1} is not MessagePack`);
    }
  };
  read("");
  if (at !== bytes.length) throw new Error(`${bytes.length - at} byte(s) after the value`);
  return found;
}

export const isIntWire = (type: WireType): boolean => (INT_WIRES as readonly string[]).includes(type);

/** Paths of numbers with an integral value that went out as floats: what no answer may have. */
export function integralFloats(bytes: Buffer): string[] {
  return [...wireTypes(bytes)]
    .filter(([, { type, value }]) => (type === "float32" || type === "float64") && Number.isInteger(value))
    .map(([path, { type, value }]) => `${path} (${type} ${String(value)})`);
}
