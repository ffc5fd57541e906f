/** Signed jobs in the CLI: `wharf signing-key new`, and the key files `serve` and `enqueue` read. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { join } from "node:path";
import { InvalidKeyError } from "../errors.js";
import { privateKeyFrom, publicKeyFrom } from "../job/signature.js";
import type { SignatureRules } from "../engine/signatures.js";
import { Output } from "./output.js";
import { UsageError } from "./usage.js";

export interface NewSigningKeyOptions {
  outDir: string;
  name: string;
  force?: boolean;
  json?: boolean;
}

/** NAME.pem, the private key (0600, for producers: --signing-key-file), and NAME.pub.pem (for servers and workers: --trusted-key-file). */
export function create(options: NewSigningKeyOptions): void {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const files = [
    { path: join(options.outDir, `${options.name}.pem`), contents: privateKey.export({ type: "pkcs8", format: "pem" }), mode: 0o600 },
    { path: join(options.outDir, `${options.name}.pub.pem`), contents: publicKey.export({ type: "spki", format: "pem" }), mode: 0o644 },
  ];
  const existing = files.filter(({ path }) => existsSync(path)).map(({ path }) => path);
  if (existing.length > 0 && !options.force) throw new UsageError(`${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; --force writes a new key pair over them`);
  mkdirSync(options.outDir, { recursive: true });
  const out = Output.choose(options);
  for (const { path, contents, mode } of files) {
    writeFileSync(path, contents, { mode, flag: options.force ? "w" : "wx" });
    // The mode given to writeFileSync applies only to a file it creates, not to one --force overwrites.
    chmodSync(path, mode);
    out.record({ wrote: path });
  }
}

function keyFile<T>(path: string, flag: string, read: (pem: string) => T): T {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    return read(pem);
  } catch (error) {
    if (error instanceof InvalidKeyError) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
}

/** The private key of --signing-key-file. */
export function signingKeyFile(path: string): KeyObject {
  return keyFile(path, "--signing-key-file", (pem) => privateKeyFrom(pem, path));
}

/** --trusted-key-file and --require-signed, checked: requiring signatures without a key to check them with is a usage error. */
export function signatureRulesOf(trustedKeyFiles: string[] | undefined, requireSigned: boolean | undefined): SignatureRules {
  const trustedKeys = (trustedKeyFiles ?? []).map((path) => keyFile(path, "--trusted-key-file", (pem) => publicKeyFrom(pem, path)));
  if (requireSigned && trustedKeys.length === 0) throw new UsageError("--require-signed needs --trusted-key-file: the public keys whose signatures the server accepts");
  return { trustedKeys, requireSigned: requireSigned ?? false };
}
