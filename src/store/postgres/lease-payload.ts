/**
 * Ended leases as NOTIFY payloads: "id:run,id:run". PostgreSQL caps a payload below 8000 bytes,
 * so a long list goes out in several.
 */
import type { EndedLease } from "../store.js";

const MAX_PAYLOAD_BYTES = 7000;

export function encodeLeases(leases: readonly EndedLease[]): string[] {
  const payloads: string[] = [];
  let current = "";
  for (const { id, runId } of leases) {
    const entry = `${id}:${runId}`;
    if (current !== "" && current.length + 1 + entry.length > MAX_PAYLOAD_BYTES) {
      payloads.push(current);
      current = "";
    }
    current = current === "" ? entry : `${current},${entry}`;
  }
  if (current !== "") payloads.push(current);
  return payloads;
}

/** Entries that are not "id:run" are skipped: a payload from anything but a Wharf server names no lease of ours. */
export function decodeLeases(payload: string): EndedLease[] {
  return payload.split(",").flatMap((entry) => {
    const [id, runId, ...rest] = entry.split(":");
    return id && runId && rest.length === 0 ? [{ id, runId }] : [];
  });
}
