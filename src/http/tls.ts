/**
 * The server's side of TLS: its certificate, key and client CA read from PEM files (at start and again
 * on reload) and checked before use, and who a verified client certificate says the peer is.
 */
import type { X509Certificate } from "node:crypto";
import type http from "node:http";
import type http2 from "node:http2";
import type tls from "node:tls";
import { BadRequestError } from "../errors.js";
import { checkSecureContext, loadPemFiles, type PemRole } from "../tls/pem.js";

/** Paths of PEM files, read at start and again by `reloadTls()`, so that a renewed certificate can replace the old one. */
export interface TlsOptions {
  /** The server's certificate, then any intermediate certificates. */
  cert: string;
  /** The certificate's private key, unencrypted. */
  key: string;
  /** With it, mutual TLS: clients must present a certificate signed by one of these CA certificates. */
  clientCa?: string;
}

/** A TLS file that cannot be used: unreadable, not PEM, or a key that is not the certificate's. */
export class InvalidTlsError extends BadRequestError {
  constructor(readonly option: keyof TlsOptions, message: string) {
    super(message);
  }
}

/** What the files held, checked, as a secure context takes them. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  /** The server certificate, for the log. */
  certificate: X509Certificate;
}

const OPTION_OF: Record<PemRole, keyof TlsOptions> = { cert: "cert", key: "key", ca: "clientCa" };

/** Reads the files and checks each, so that a bad one is refused with its name before any handshake uses it. */
export function loadTlsCredentials(options: TlsOptions): TlsCredentials {
  const refuse = (role: PemRole, message: string): InvalidTlsError => new InvalidTlsError(OPTION_OF[role], message);
  const { pair, ca } = loadPemFiles({ cert: options.cert, key: options.key, ca: options.clientCa }, refuse);
  const { cert, key, certificate } = pair!;
  try {
    checkSecureContext({ cert, key, ca }, [options.cert, options.key, ...(options.clientCa === undefined ? [] : [options.clientCa])]);
  } catch (error) {
    throw refuse("cert", (error as Error).message);
  }
  return { cert, key, ca, certificate };
}

/** Log fields naming a certificate, to tell which one the server presents after a reload. */
export function describeCertificate(certificate: X509Certificate): Record<string, string> {
  return { subject: certificate.subject, serial: certificate.serialNumber, valid_to: new Date(certificate.validTo).toISOString() };
}

/** Who a client certificate that the server verified says the peer is. */
export interface PeerIdentity {
  /** The subject's common name (CN), if it has one. */
  commonName: string | undefined;
  /** Subject alternative names as Node writes them: "DNS:worker.internal", "IP Address:10.0.0.7", "URI:spiffe://...". */
  altNames: string[];
  /** SHA-256 fingerprint of the certificate, colon-separated hex. */
  fingerprint256: string;
}

/**
 * Splits Node's `subjectaltname` ("DNS:a, IP Address:127.0.0.1"), where a value with a comma or a quote in
 * it is written as a JSON string (`DNS:"a, b"`).
 */
function splitAltNames(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(/([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g)) {
    const [, type, value] = match as unknown as [string, string, string];
    names.push(`${type.trim()}:${value.startsWith('"') ? (JSON.parse(value) as string) : value}`);
  }
  return names;
}

/** The peer's certificate, when the connection is TLS and the server verified one (mutual TLS); undefined otherwise. */
export function peerIdentity(request: http.IncomingMessage | http2.Http2ServerRequest): PeerIdentity | undefined {
  const socket = request.socket as Partial<tls.TLSSocket>;
  if (socket.authorized !== true || typeof socket.getPeerCertificate !== "function") return undefined;
  const peer = socket.getPeerCertificate();
  if (Object.keys(peer).length === 0) return undefined;
  const commonName = Array.isArray(peer.subject?.CN) ? peer.subject.CN[0] : peer.subject?.CN;
  return { commonName, altNames: peer.subjectaltname ? splitAltNames(peer.subjectaltname) : [], fingerprint256: peer.fingerprint256 };
}
