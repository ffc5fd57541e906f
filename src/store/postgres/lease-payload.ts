/**
 * Ended leases as NOTIFY payloads: "id:run,id:run" ("id:run:c" for a cancelled one). PostgreSQL caps a
 * payload below 8000 bytes, so a long list goes out in several.
 */
import type { EndedLease } from "../store.js";

const MAX_PAYLOAD_BYTES = 7000;

export function encodeLeases(leases: readonly EndedLease[]): string[] {
  const payloads: string[] = [];
  let current = "";
  for (const { id, runId, cancelled } of leases) {
    const entry = cancelled ? `${id}:${runId}:c` : `${id}:${runId}`;
    if (current !== "" && current.length + 1 + entry.length > MAX_PAYLOAD_BYTES) {
      payloads.push(current);
      current = "";
    }
    current = current === "" ? entry : `${current},${entry}`;
  }
  if (current !== "") payloads.push(current);
  return payloads;
}

/** Entries that are not "id:run" or "id:run:c" are skipped: a payload from anything but a Wharf server names no lease of ours. */
export function decodeLeases(payload: string): EndedLease[] {
  return payload.split(",").flatMap((entry) => {
    const [id, runId, ...rest] = entry.split(":");
    if (!id || !runId) return [];
    if (rest.length === 0) return [{ id, runId }];
    return rest.length === 1 && rest[0] === "c" ? [{ id, runId, cancelled: true }] : [];
  });
}
