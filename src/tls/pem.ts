/**
 * PEM files checked before TLS uses them, so that a bad one is refused with its name rather than failing
 * handshakes later. Each function throws an Error whose message names the file; callers say which option
 * or flag gave it.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";

export function readPem(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
}

/** The first certificate of a PEM file (a chain or a CA bundle may hold more). */
export function certificateIn(pem: Buffer, path: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new Error(`${path} holds no PEM certificate (${(error as Error).message})`, { cause: error });
  }
}

export function privateKeyIn(pem: Buffer, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new Error(`${path} holds no unencrypted PEM private key (${(error as Error).message})`, { cause: error });
  }
}

export function checkKeyPair(certificate: X509Certificate, certPath: string, key: KeyObject, keyPath: string): void {
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
