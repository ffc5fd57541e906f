/**
 * X.509 certificates for TLS and mutual TLS, made in memory: a certificate authority, the server's
 * certificate and client certificates signed by it (ECDSA P-256 keys, SHA-256 signatures), as PEM.
 * `wharf tls init` writes what `generateTlsFiles` makes; the tests make theirs with the same code.
 *
 * Loaded only by `wharf tls init` and the tests: @peculiar/x509 needs the reflect-metadata
 * polyfill, which patches the global Reflect, and neither belongs in a server or an SDK process.
 */
import "reflect-metadata";
import { isIP } from "node:net";
import { randomBytes, webcrypto as crypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/** A certificate and its private key (unencrypted PKCS #8), both PEM. */
export interface PemPair {
  cert: string;
  key: string;
}

export interface Validity {
  days: number;
  /** When the certificate starts to be valid; default now. A date in the past makes an expired certificate. */
  from?: Date;
}

export interface CertificateSubject {
  commonName: string;
  /** DNS names and IP addresses (subject alternative names); a server's are the names clients reach it by. */
  altNames?: string[];
  /** What the certificate is for: TLS servers, or clients (mutual TLS). */
  usage: "server" | "client";
}

const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 86_400_000;
/** Certificates start an hour early, so a machine whose clock is a little behind accepts a new one. */
const CLOCK_SKEW_MS = 3_600_000;
type CryptoKey = crypto.CryptoKey;
type CryptoKeyPair = crypto.CryptoKeyPair;

function validityDates({ days, from = new Date() }: Validity): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(from.getTime() - CLOCK_SKEW_MS), notAfter: new Date(from.getTime() + days * DAY_MS) };
}

/** 16 random bytes, the first bit clear: serial numbers are positive and should be unpredictable (RFC 5280, CA/B BR 7.1). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

function generalName(name: string): x509.JsonGeneralName {
  return { type: isIP(name) === 0 ? "dns" : "ip", value: name };
}

/** A certificate authority kept in memory, with its key, to sign server and client certificates. */
export class CertificateAuthority {
  private constructor(
    private readonly certificate: x509.X509Certificate,
    private readonly keys: CryptoKeyPair,
    readonly pem: PemPair,
  ) {}

  static async create(commonName: string, validity: Validity): Promise<CertificateAuthority> {
    const keys = await generateKeys();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: [{ CN: [commonName] }],
      ...validityDates(validity),
      signingAlgorithm: SIGNING_ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    }, crypto);
    return new CertificateAuthority(certificate, keys, { cert: certificate.toString("pem"), key: await privateKeyPem(keys.privateKey) });
  }

  async issue(subject: CertificateSubject, validity: Validity): Promise<PemPair> {
    const keys = await generateKeys();
    const altNames = subject.altNames ?? [];
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([subject.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey, false, crypto),
    ];
    if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames.map(generalName)));
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: [{ CN: [subject.commonName] }],
      issuer: this.certificate.subject,
      ...validityDates(validity),
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions,
    }, crypto);
    return { cert: certificate.toString("pem"), key: await privateKeyPem(keys.privateKey) };
  }
}

export interface TlsFilesOptions {
  /** The CA's common name. */
  commonName: string;
  /** The server certificate's names; its common name is the first. */
  serverNames: string[];
  /** A client certificate for each name (its common name). */
  clients: string[];
  validity: Validity;
}

/** One file of a set: its name in the output directory, its contents, and whether it is a private key. */
export interface TlsFile {
  name: string;
  contents: string;
  privateKey: boolean;
}

function pairFiles(prefix: string, pair: PemPair): TlsFile[] {
  return [
    { name: `${prefix}-cert.pem`, contents: pair.cert, privateKey: false },
    { name: `${prefix}-key.pem`, contents: pair.key, privateKey: true },
  ];
}

/** A CA, a server certificate and client certificates signed by it, as the files `wharf tls init` writes. */
export async function generateTlsFiles(options: TlsFilesOptions): Promise<TlsFile[]> {
  const ca = await CertificateAuthority.create(options.commonName, options.validity);
  const server = await ca.issue({ commonName: options.serverNames[0]!, altNames: options.serverNames, usage: "server" }, options.validity);
  const files = [...pairFiles("ca", ca.pem), ...pairFiles("server", server)];
  for (const client of options.clients) {
    files.push(...pairFiles(`client-${client}`, await ca.issue({ commonName: client, usage: "client" }, options.validity)));
  }
  return files;
}
