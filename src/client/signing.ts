/**
 * The SDK's side of signed jobs (src/job/signature.ts): a client with a signing key gives each job it
 * enqueues an id and signs it; a worker with verification keys runs only jobs they verify.
 */
import type { KeyObject } from "node:crypto";
import { newJobId } from "../job/ids.js";
import { privateKeyFrom, publicKeyFrom, signatureProblem, signFields, type SignedJob } from "../job/signature.js";
import type { EnqueueInput as StoredEnqueueInput } from "../job/types.js";
import { SignatureError } from "./handler-errors.js";

/** An ed25519 key: a KeyObject, or its PEM text. */
export type SigningKey = KeyObject | string;

export function signingKeyOf(key: SigningKey): KeyObject {
  return privateKeyFrom(key, "signingKey");
}

export function verificationKeysOf(keys: readonly SigningKey[]): KeyObject[] {
  return keys.map((key, index) => publicKeyFrom(key, `verificationKeys[${index}]`));
}

type Signable = Pick<StoredEnqueueInput, "id" | "queue" | "type" | "ready_at" | "deadline" | "dependencies" | "signature"> & { payload: unknown };

/**
 * `inputs` (one request's jobs) signed: each given an id, unless it has one, and its signature. The
 * signature covers dependencies as the server resolves them: positions in the request as the ids
 * of the jobs there, each id once.
 */
export function signInputs<T extends Signable>(inputs: readonly T[], key: KeyObject): T[] {
  const ids = inputs.map((input) => input.id ?? newJobId());
  return inputs.map((input, position) => {
    const id = ids[position]!;
    const dependencies = input.dependencies && [...new Set(input.dependencies.map((dependency) => (typeof dependency === "number" ? ids[dependency] ?? String(dependency) : dependency)))];
    const signature = signFields({ id, queue: input.queue, type: input.type, payload: input.payload, ready_at: input.ready_at, deadline: input.deadline, dependencies }, key);
    return { ...input, id, signature };
  });
}

/** Throws SignatureError unless `job` is signed by one of `keys`, over what it holds now. */
export function verifyBeforeRunning(job: SignedJob, keys: readonly KeyObject[]): void {
  const problem = signatureProblem(job, keys);
  if (problem !== undefined) throw new SignatureError(problem);
}
