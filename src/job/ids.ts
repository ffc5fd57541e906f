import { scru128String } from "scru128";

/** Job ids are 25-character base36 SCRU128 ids: unique and sortable by creation time. */
export function newJobId(): string {
  return scru128String();
}

const JOB_ID_PATTERN = /^[0-9a-z]{25}$/;

export function isJobId(value: string): boolean {
  return JOB_ID_PATTERN.test(value);
}
