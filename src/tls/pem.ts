/**
 * PEM files checked before TLS uses them, so that a bad one is refused with its name rather than failing
 * handshakes later. Each function throws an Error whose message names the file; callers say which option
 * or flag gave it.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";

function readPem(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
}

/** The first certificate of a PEM file (a chain or a CA bundle may hold more). */
function certificateIn(pem: Buffer, path: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new Error(`${path} holds no PEM certificate (${(error as Error).message})`, { cause: error });
  }
}

function privateKeyIn(pem: Buffer, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new Error(`${path} holds no unencrypted PEM private key (${(error as Error).message})`, { cause: error });
  }
}

function checkKeyPair(certificate: X509Certificate, certPath: string, key: KeyObject, keyPath: string): void {
  if (!certificate.checkPrivateKey(key)) throw new Error(`${keyPath} is not the private key of the certificate in ${certPath}`);
}

/** What the checks above cannot see (a bad certificate further down a CA bundle, say), as Node's TLS finds it. */
export function checkSecureContext(options: tls.SecureContextOptions, paths: string[]): void {
  try {
    tls.createSecureContext(options);
  } catch (error) {
    throw new Error(`${paths.join(", ")} make no TLS context (${(error as Error).message})`, { cause: error });
  }
}

/** Which file of a set a problem is in. */
export type PemRole = "cert" | "key" | "ca";

/** A certificate with its key (both or neither), and a CA certificate to trust, as file paths. */
export interface PemFiles {
  cert?: string | undefined;
  key?: string | undefined;
  ca?: string | undefined;
}

export interface LoadedPem {
  /** With `key` and `certificate`, when the files gave a certificate. */
  pair?: { cert: Buffer; key: Buffer; certificate: X509Certificate };
  ca?: Buffer;
}

/**
 * Reads the files and checks each: the CA holds a certificate, the certificate file one, and the key
 * is that certificate's. What is wrong throws `refuse(role, message)`, so that callers name the option
 * or flag the file came from.
 */
export function loadPemFiles(files: PemFiles, refuse: (role: PemRole, message: string) => Error): LoadedPem {
  const checked = <T>(role: PemRole, check: () => T): T => {
    try {
      return check();
    } catch (error) {
      throw refuse(role, (error as Error).message);
    }
  };
  const loaded: LoadedPem = {};
  if (files.cert !== undefined && files.key !== undefined) {
    const { cert: certPath, key: keyPath } = files;
    const cert = checked("cert", () => readPem(certPath));
    const key = checked("key", () => readPem(keyPath));
    const certificate = checked("cert", () => certificateIn(cert, certPath));
    checked("key", () => checkKeyPair(certificate, certPath, privateKeyIn(key, keyPath), keyPath));
    loaded.pair = { cert, key, certificate };
  }
  if (files.ca !== undefined) {
    const caPath = files.ca;
    const ca = checked("ca", () => readPem(caPath));
    checked("ca", () => certificateIn(ca, caPath));
    loaded.ca = ca;
  }
  return loaded;
}
