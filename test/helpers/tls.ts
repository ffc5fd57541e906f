/**
 * Certificates for TLS tests, made with the code `wharf tls init` uses: one CA, the server's certificate
 * (localhost, 127.0.0.1), a good client certificate, an expired one, and one from another CA. The server's
 * files are written to a temporary directory, as `startServer({ tls })` and `wharf serve` read them.
 */
import { rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import tls from "node:tls";
import { CertificateAuthority, type PemPair } from "../../src/tls/certificates.js";
import type { TlsOptions } from "../../src/http/tls.js";
import { tempDir } from "./server.js";

const DAY_MS = 86_400_000;

export interface TlsFixture {
  dir: string;
  /** The CA's certificate (PEM), which signed everything below but `stranger`. */
  ca: string;
  server: PemPair;
  /** CN worker, SAN DNS:worker.internal. */
  client: PemPair;
  /** Signed by the CA, valid for one day ten days ago. */
  expired: PemPair;
  /** A client certificate from another CA. */
  stranger: PemPair;
  /** The server's files, with the CA as client CA (mutual TLS). */
  mutual: Required<TlsOptions>;
  /** The server's files without a client CA. */
  serverOnly: TlsOptions;
  /** A new server certificate from the same CA, written over the server's files. */
  renewServer(): Promise<PemPair>;
  /** Another client certificate from the CA, valid for a day. */
  issueClient(commonName: string, altNames?: string[]): Promise<PemPair>;
  remove(): void;
}

export async function tlsFixture(): Promise<TlsFixture> {
  const dir = tempDir("wharf-tls-");
  const authority = await CertificateAuthority.create("Wharf test CA", { days: 1 });
  const issueServer = (): Promise<PemPair> => authority.issue({ commonName: "localhost", altNames: ["localhost", "127.0.0.1"], usage: "server" }, { days: 1 });
  const issueClient = (commonName: string, altNames?: string[]): Promise<PemPair> => authority.issue({ commonName, ...(altNames === undefined ? {} : { altNames }), usage: "client" }, { days: 1 });
  const stranger = await (await CertificateAuthority.create("Another CA", { days: 1 })).issue({ commonName: "worker", usage: "client" }, { days: 1 });
  const mutual = { cert: join(dir, "server-cert.pem"), key: join(dir, "server-key.pem"), clientCa: join(dir, "ca-cert.pem") };
  const writeServer = (pair: PemPair): PemPair => {
    writeFileSync(mutual.cert, pair.cert);
    writeFileSync(mutual.key, pair.key);
    return pair;
  };
  writeFileSync(mutual.clientCa, authority.pem.cert);
  return {
    dir,
    ca: authority.pem.cert,
    server: writeServer(await issueServer()),
    client: await issueClient("worker", ["worker.internal"]),
    expired: await authority.issue({ commonName: "old-worker", usage: "client" }, { days: 1, from: new Date(Date.now() - 10 * DAY_MS) }),
    stranger,
    mutual,
    serverOnly: { cert: mutual.cert, key: mutual.key },
    renewServer: async () => writeServer(await issueServer()),
    issueClient,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface HttpsResult {
  status: number;
  httpVersion: string;
  alpnProtocol: string | false;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index freely into decoded bodies
  body: any;
}

export type HttpsOptions = https.RequestOptions & Pick<tls.ConnectionOptions, "ALPNProtocols">;

/** One HTTPS request on a connection of its own (no agent), decoded as JSON. */
export function httpsRequest(url: string, method: string, path: string, options: HttpsOptions = {}, body?: unknown): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { "content-type": "application/json" };
    const request = https.request(`${url}${path}`, { method, headers, agent: false, timeout: 5000, ...options }, (response) => {
      const alpnProtocol = (response.socket as tls.TLSSocket).alpnProtocol ?? false;
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: response.statusCode ?? 0, httpVersion: response.httpVersion, alpnProtocol, body: text === "" ? undefined : JSON.parse(text) });
      });
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error("no answer within 5 s")));
    request.on("error", reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** The certificate a new TLS connection to `url` is shown (verified against `ca`), presenting `client` if given. */
export function presentedCertificate(url: string, ca: string, client?: PemPair): Promise<tls.PeerCertificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, ...client, ALPNProtocols: ["http/1.1"] }, () => {
      resolve(socket.getPeerCertificate());
      socket.destroy();
    });
    socket.once("error", reject);
  });
}
