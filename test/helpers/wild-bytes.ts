/**
 * Request bodies no well-behaved encoder writes, for the fuzz test: a value tree with markers for
 * what JSON and MessagePack can say but JavaScript values cannot (duplicate or non-string map keys,
 * invalid UTF-8, ext types, NaN tokens, nesting deeper than a recursive encoder likes), written as
 * MessagePack by a small byte writer that picks every integer, string, array and map width a value
 * fits in, and as JSON text.
 */

/** A value for a request body: JSON-like, or one of the markers. */
export type Wild =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Wild[]
  | { [key: string]: Wild }
  | WildMap
  | WildBytes
  | WildExt
  | WildDeep;

/** A map as an ordered list of entries: keys may repeat and need not be strings. */
export class WildMap {
  constructor(readonly entries: Array<[Wild, Wild]>) {}
}

/** A string whose bytes are these, valid UTF-8 or not. */
export class WildBytes {
  constructor(readonly bytes: Uint8Array) {}
}

/** A MessagePack extension value (JSON: null). */
export class WildExt {
  constructor(readonly type: number, readonly data: Uint8Array) {}
}

/** `depth` arrays nested in one another around `inner`. */
export class WildDeep {
  constructor(readonly depth: number, readonly inner: Wild) {}
}

export interface EncodeChoices {
  /** Deterministic choices (widths): a seeded generator's next value in [0, 1). */
  next(): number;
  /** Allow 8-byte integers (0xcf, 0xd3) and ext types: today's known 500s, kept apart. */
  known: boolean;
}

/** A small seeded PRNG (mulberry32), so encodings follow from the fast-check seed. */
export function choices(seed: number, known: boolean): EncodeChoices {
  let state = seed >>> 0;
  return {
    known,
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

class Writer {
  private readonly chunks: Buffer[] = [];
  byte(...values: number[]): void {
    this.chunks.push(Buffer.from(values.map((value) => value & 0xff)));
  }
  raw(bytes: Uint8Array): void {
    this.chunks.push(Buffer.from(bytes));
  }
  u16(value: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value);
    this.chunks.push(b);
  }
  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value >>> 0);
    this.chunks.push(b);
  }
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
  push(b: Buffer): void {
    this.chunks.push(b);
  }
}

function pick<T>(options: T[], c: EncodeChoices): T {
  return options[Math.floor(c.next() * options.length)]!;
}

function writeInt(w: Writer, value: number, c: EncodeChoices): void {
  type Form = () => void;
  const forms: Form[] = [];
  const b8 = (write: (b: Buffer) => void): void => {
    const b = Buffer.alloc(8);
    write(b);
    w.push(b);
  };
  if (value >= 0 && value <= 127) forms.push(() => w.byte(value));
  if (value >= -32 && value < 0) forms.push(() => w.byte(0xe0 | (value + 32)));
  if (value >= 0 && value <= 0xff) forms.push(() => w.byte(0xcc, value));
  if (value >= 0 && value <= 0xffff) forms.push(() => (w.byte(0xcd), w.u16(value)));
  if (value >= 0 && value <= 0xffffffff) forms.push(() => (w.byte(0xce), w.u32(value)));
  if (value >= -128 && value <= 127) forms.push(() => w.byte(0xd0, value));
  if (value >= -32768 && value <= 32767) forms.push(() => (w.byte(0xd1), w.u16(value & 0xffff)));
  if (value >= -(2 ** 31) && value < 2 ** 31) forms.push(() => (w.byte(0xd2), w.u32(value)));
  if (c.known && value >= 0) forms.push(() => (w.byte(0xcf), b8((b) => b.writeBigUInt64BE(BigInt(value)))));
  if (c.known) forms.push(() => (w.byte(0xd3), b8((b) => b.writeBigInt64BE(BigInt(value)))));
  // Without 8-byte forms, an integer past 32 bits goes as a float64, which holds it exactly.
  if (forms.length === 0) forms.push(() => (w.byte(0xcb), b8((b) => b.writeDoubleBE(value))));
  pick(forms, c)();
}

function writeLength(w: Writer, length: number, fix: number | undefined, fixMax: number, codes: [number | undefined, number, number], c: EncodeChoices): void {
  const forms: Array<() => void> = [];
  if (fix !== undefined && length <= fixMax) forms.push(() => w.byte(fix | length));
  if (codes[0] !== undefined && length <= 0xff) forms.push(() => w.byte(codes[0]!, length));
  if (length <= 0xffff) forms.push(() => (w.byte(codes[1]), w.u16(length)));
  forms.push(() => (w.byte(codes[2]), w.u32(length)));
  pick(forms, c)();
}

function writeStrBytes(w: Writer, bytes: Uint8Array, c: EncodeChoices): void {
  writeLength(w, bytes.length, 0xa0, 31, [0xd9, 0xda, 0xdb], c);
  w.raw(bytes);
}

function write(w: Writer, value: Wild, c: EncodeChoices): void {
  if (value === null) return w.byte(0xc0);
  if (value === true) return w.byte(0xc3);
  if (value === false) return w.byte(0xc2);
  if (typeof value === "number") {
    if (Number.isInteger(value) && !Object.is(value, -0) && Math.abs(value) < 2 ** 63) return writeInt(w, value, c);
    if (Math.fround(value) === value || Number.isNaN(value) || c.next() < 0.2) {
      if (c.next() < 0.5 || Number.isNaN(value)) {
        const b = Buffer.alloc(4);
        b.writeFloatBE(value);
        w.byte(0xca);
        return w.push(b);
      }
    }
    const b = Buffer.alloc(8);
    b.writeDoubleBE(value);
    w.byte(0xcb);
    return w.push(b);
  }
  if (typeof value === "string") return writeStrBytes(w, Buffer.from(value, "utf8"), c);
  if (value instanceof WildBytes) return writeStrBytes(w, value.bytes, c);
  if (value instanceof Uint8Array) {
    writeLength(w, value.length, undefined, 0, [0xc4, 0xc5, 0xc6], c);
    return w.raw(value);
  }
  if (value instanceof WildExt) {
    if (!c.known) return w.byte(0xc0);
    const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
    const code = fixed[value.data.length];
    if (code !== undefined && c.next() < 0.5) w.byte(code, value.type);
    else {
      writeLength(w, value.data.length, undefined, 0, [0xc7, 0xc8, 0xc9], c);
      w.byte(value.type);
    }
    return w.raw(value.data);
  }
  if (value instanceof WildDeep) {
    for (let i = 0; i < value.depth; i++) w.byte(0x91);
    return write(w, value.inner, c);
  }
  if (Array.isArray(value)) {
    writeLength(w, value.length, 0x90, 15, [undefined, 0xdc, 0xdd], c);
    for (const item of value) write(w, item, c);
    return;
  }
  const entries = value instanceof WildMap ? value.entries : Object.entries(value);
  writeLength(w, entries.length, 0x80, 15, [undefined, 0xde, 0xdf], c);
  for (const [key, item] of entries) {
    write(w, key, c);
    write(w, item, c);
  }
}

export function toMsgpack(value: Wild, c: EncodeChoices): Buffer {
  const w = new Writer();
  write(w, value, c);
  return w.buffer();
}

/** JSON text; NaN and infinities as the tokens a lax encoder writes (NaN, Infinity, 1e999). */
export function toJsonText(value: Wild, c: EncodeChoices): Buffer {
  const parts: Buffer[] = [];
  const text = (s: string): void => void parts.push(Buffer.from(s, "utf8"));
  const visit = (v: Wild): void => {
    if (typeof v === "number") {
      if (Number.isFinite(v)) return text(Object.is(v, -0) ? "-0" : String(v));
      return text(pick(Number.isNaN(v) ? ["NaN", "nan", "null"] : v > 0 ? ["Infinity", "1e999"] : ["-Infinity", "-1e999"], c));
    }
    if (v === null || typeof v === "boolean" || typeof v === "string") return text(JSON.stringify(v));
    if (v instanceof WildBytes) {
      parts.push(Buffer.from('"'), Buffer.from(v.bytes), Buffer.from('"'));
      return;
    }
    if (v instanceof WildExt) return text("null");
    if (v instanceof Uint8Array) return text(JSON.stringify(Buffer.from(v).toString("base64")));
    if (v instanceof WildDeep) {
      text("[".repeat(v.depth));
      visit(v.inner);
      return text("]".repeat(v.depth));
    }
    if (Array.isArray(v)) {
      text("[");
      v.forEach((item, i) => {
        if (i > 0) text(",");
        visit(item);
      });
      return text("]");
    }
    const entries = v instanceof WildMap ? v.entries : Object.entries(v);
    text("{");
    entries.forEach(([key, item], i) => {
      if (i > 0) text(",");
      if (typeof key === "string" || key instanceof WildBytes) visit(key);
      else text(JSON.stringify(JSON.stringify(key instanceof Uint8Array ? [...key] : key) ?? "null"));
      text(":");
      visit(item);
    });
    text("}");
  };
  visit(value);
  return Buffer.concat(parts);
}
