import { isInteger, isSafeNumber, parse as parseLossless, stringify as stringifyLossless } from "lossless-json";

/**
 * JSON that keeps every digit of an integer. Integers past 2^53 become BigInt on the way in and are
 * written back digit for digit; everything else is what JSON.parse and JSON.stringify make of it.
 * Both take the built-in fast path unless the text or value needs more.
 */

/**
 * Whether `text` has 16 digits in a row, the shortest run that can hold an unsafe integer. Any such
 * run covers one of every 16th position, so only digits found there are looked at more closely:
 * about 5x faster than /\d{16}/ on typical job bodies, where it is a large part of the parse.
 */
function hasLongDigitRun(text: string): boolean {
  const length = text.length;
  for (let index = 15; index < length; index += 16) {
    if (!isDigit(text.charCodeAt(index))) continue;
    let first = index;
    let last = index;
    while (first > 0 && isDigit(text.charCodeAt(first - 1))) first--;
    while (last + 1 < length && isDigit(text.charCodeAt(last + 1))) last++;
    if (last - first >= 15) return true;
    index = last;
  }
  return false;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function parseNumber(text: string): number | bigint {
  return isInteger(text) && !isSafeNumber(text) ? BigInt(text) : Number.parseFloat(text);
}

/** A key given twice keeps its first place and its last value, as JSON.parse has it (lossless-json would throw). */
const LOSSLESS_OPTIONS = { parseNumber, onDuplicateKey: ({ newValue }: { newValue: unknown }) => newValue };

export function parseJson(text: string): unknown {
  return hasLongDigitRun(text) ? parseLossless(text, null, LOSSLESS_OPTIONS) : JSON.parse(text);
}

export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError) || !String(error.message).includes("BigInt")) throw error;
    return stringifyLossless(value)!;
  }
}

/**
 * A decoded value JSON cannot hold (MessagePack binary, an extension value, a map keyed by
 * something other than strings), left in its place so the validator of the field that holds it can
 * refuse it by name. `what` says what it was, as an error message puts it ("a MessagePack timestamp").
 */
export class Unrepresentable {
  constructor(readonly what: string) {}
}
