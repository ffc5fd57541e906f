import { scru128String } from "scru128";

/** Job ids are 25-character base36 SCRU128 ids: unique and sortable by creation time. */
export function newJobId(): string {
  return scru128String();
}
