/**
 * What the server checks of signed jobs at enqueue (src/job/signature.ts): with trusted keys, every
 * signature must verify with one of them (403); where signatures are required (for every queue, or
 * a queue's require_signed), an unsigned job is refused (400). Without trusted keys, a signature is
 * kept unchecked, for workers to verify.
 */
import type { KeyObject } from "node:crypto";
import { BadRequestError, ForbiddenError } from "../errors.js";
import { signedFieldsOf, verifiesWith } from "../job/signature.js";
import type { Job } from "../job/types.js";
import type { QueueSettingsView } from "./new-jobs.js";

export interface SignatureRules {
  /** Public keys whose signatures the server accepts. */
  trustedKeys: readonly KeyObject[];
  /** Every queue takes only signed jobs, as if each had require_signed. */
  requireSigned: boolean;
}

export const NO_SIGNATURE_RULES: SignatureRules = { trustedKeys: [], requireSigned: false };

export function checkSignatures(jobs: readonly Job[], rules: SignatureRules, settings: QueueSettingsView, where: (position: number) => string): void {
  jobs.forEach((job, position) => {
    const queueRequires = settings.get(job.queue)?.require_signed === true;
    if (job.signature === undefined) {
      if (rules.requireSigned || queueRequires) {
        throw new BadRequestError(`${where(position)} is not signed, and queue ${JSON.stringify(job.queue)} takes only jobs signed by a trusted key`);
      }
      return;
    }
    if (rules.trustedKeys.length === 0) {
      if (queueRequires) throw new ForbiddenError(`${where(position)} is signed, but this server trusts no key (--trusted-key-file), so queue ${JSON.stringify(job.queue)} takes none`);
      return;
    }
    if (!verifiesWith(signedFieldsOf(job), job.signature, rules.trustedKeys)) {
      throw new ForbiddenError(`${where(position)}'s signature does not verify with any trusted key: it was made by another key, or over other values than these`);
    }
  });
}

/** Signed jobs name their own ids: two of one request must not share one (400). */
export function checkOwnIds(jobs: readonly Job[], where: (position: number) => string): string[] {
  const seen = new Map<string, number>();
  jobs.forEach((job, position) => {
    if (job.signature === undefined) return;
    const earlier = seen.get(job.id);
    if (earlier !== undefined) throw new BadRequestError(`${where(position)}.id is ${where(earlier)}'s id too: each job needs its own`);
    seen.set(job.id, position);
  });
  return [...seen.keys()];
}
