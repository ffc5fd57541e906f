/**
 * Long work in slices that give the event loop back: a request that maps over 50,000 jobs lets
 * /health and every other request in between. A slice ends when it has run for SLICE_MS.
 */
import { setImmediate as nextTurn } from "node:timers/promises";

/** Longest a slice runs before yielding; well under the 100 ms any other request may wait. */
export const SLICE_MS = 8;

/** Yields to the event loop once the current slice has run for SLICE_MS; call it between items. */
export class Slicer {
  private started = performance.now();

  /** True once the current slice has run for SLICE_MS: checked without awaiting, so a loop pays a promise only when it yields. */
  get due(): boolean {
    return performance.now() - this.started >= SLICE_MS;
  }

  async pause(): Promise<void> {
    if (!this.due) return;
    await nextTurn();
    this.started = performance.now();
  }
}

/** `items` in consecutive slices of at most `size` (the last may be shorter). */
export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}

/** `items.map(fn)`, yielding between items when a slice has run long enough; checks the clock every `every` items. */
export async function mapInSlices<T, R>(items: readonly T[], fn: (item: T, index: number) => R, every = 16): Promise<R[]> {
  const slicer = new Slicer();
  const out = new Array<R>(items.length);
  for (let index = 0; index < items.length; index++) {
    out[index] = fn(items[index]!, index);
    if (index % every === every - 1 && slicer.due) await slicer.pause();
  }
  return out;
}
