/**
 * Signed jobs (asyncjobs' signed tasks): a producer holding an ed25519 key signs what it enqueues,
 * and servers and workers holding the public key check that a job is what that producer made.
 *
 * The signed document is the UTF-8 JSON text of
 * `["wharf.job.v1", id, queue, type, payload, ready_at, deadline, dependencies]`: ready_at and
 * deadline as the producer sent them (null when it sent none), dependencies as job ids in the order
 * given, each once, with positions in a bulk replaced by the ids of the jobs they name ([] for none),
 * and the payload as JavaScript's JSON.stringify writes it (integers past 2^53 with every digit).
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { InvalidKeyError } from "../errors.js";
import { stringifyJson } from "./json.js";
import type { Job } from "./types.js";

/** A job as far as its signature goes. */
export type SignedJob = Pick<Job, "id" | "queue" | "type" | "signature" | "signed_ready_at" | "deadline" | "dependencies"> & { payload: unknown };

export const SIGNATURE_SCHEME = "wharf.job.v1";
/** Bytes of an ed25519 signature. */
const SIGNATURE_BYTES = 64;

/** What a signature covers, as a job or its producer has it. */
export interface SignedFields {
  id: string;
  queue: string;
  type: string;
  /** A JSON value (unknown: as the SDK's typed payloads have it). */
  payload: unknown;
  ready_at?: number | null;
  deadline?: number | null;
  dependencies?: readonly string[] | null;
}

export function signedDocument(fields: SignedFields): Buffer {
  const { id, queue, type, payload, ready_at: readyAt = null, deadline = null, dependencies = null } = fields;
  return Buffer.from(stringifyJson([SIGNATURE_SCHEME, id, queue, type, payload, readyAt, deadline, dependencies ?? []]), "utf8");
}

/** The signature of `fields` by `key` (an ed25519 private key), base64. */
export function signFields(fields: SignedFields, key: KeyObject): string {
  return sign(null, signedDocument(fields), key).toString("base64");
}

/** Whether `signature` (base64) is one of `fields` by a holder of any of `keys`. */
export function verifiesWith(fields: SignedFields, signature: string, keys: readonly KeyObject[]): boolean {
  const bytes = Buffer.from(signature, "base64");
  if (bytes.length !== SIGNATURE_BYTES) return false;
  const document = signedDocument(fields);
  return keys.some((key) => verify(null, document, key, bytes));
}

/** What a stored or taken job's signature covers: its ready_at as the producer sent it, not as retries moved it. */
export function signedFieldsOf(job: SignedJob): SignedFields {
  return { id: job.id, queue: job.queue, type: job.type, payload: job.payload, ready_at: job.signed_ready_at, deadline: job.deadline, dependencies: job.dependencies };
}

/** Why a job's signature does not hold against `keys`, or undefined when it does. */
export function signatureProblem(job: SignedJob, keys: readonly KeyObject[]): string | undefined {
  if (job.signature === undefined) return `job ${job.id} is not signed`;
  if (!verifiesWith(signedFieldsOf(job), job.signature, keys)) return `job ${job.id}'s signature does not verify with any trusted key: it was signed by another key, or changed after it was signed`;
  return undefined;
}

/** Whether `text` is the base64 of a signature's 64 bytes, as a request may carry it. */
export function isSignatureText(text: string): boolean {
  return /^[A-Za-z0-9+/]{86}==$/.test(text);
}

/** An ed25519 public key: a KeyObject, or PEM text (SPKI, as `wharf signing-key new` writes it); an InvalidKeyError names `source`. */
export function publicKeyFrom(key: KeyObject | string, source: string): KeyObject {
  return ed25519Key(() => (typeof key === "string" ? createPublicKey(key) : key), source, "public");
}

/** An ed25519 private key: a KeyObject, or PEM text (PKCS #8, as `wharf signing-key new` writes it). */
export function privateKeyFrom(key: KeyObject | string, source: string): KeyObject {
  return ed25519Key(() => (typeof key === "string" ? createPrivateKey(key) : key), source, "private");
}

function ed25519Key(read: () => KeyObject, source: string, kind: "public" | "private"): KeyObject {
  let key: KeyObject;
  try {
    key = read();
  } catch {
    throw new InvalidKeyError(`${source} holds no ${kind} key in PEM form`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new InvalidKeyError(`${source} is a ${key.asymmetricKeyType ?? "secret"} key; signed jobs use ed25519`);
  if (kind === "private" && key.type !== "private") throw new InvalidKeyError(`${source} is a public key; signing takes the private one`);
  return key;
}
