import { scru128String } from "scru128";

/** Job ids are 25-character base36 SCRU128 ids: unique and sortable by creation time. */
export function newJobId(): string {
  return scru128String();
}

const JOB_ID = /^[0-9a-z]{25}$/;

/** Whether `id` has the shape of a job id; anything else (a NUL, a path, another length) names no job and need not reach a store. */
export function isJobId(id: string): boolean {
  return JOB_ID.test(id);
}
