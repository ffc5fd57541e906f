/** `wharf tls init`: a new CA, a server certificate and client certificates signed by it, written as PEM files. */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Output } from "./output.js";
import { UsageError } from "./usage.js";

export interface TlsInitOptions {
  outDir: string;
  san?: string[];
  client?: string[];
  days: number;
  cn: string;
  force?: boolean;
  json?: boolean;
}

/** The server certificate's names when no --san is given: this machine, by name and by address. */
export const DEFAULT_SERVER_NAMES = ["localhost", "127.0.0.1"];

function fileNames(clients: string[]): string[] {
  return ["ca", "server", ...clients.map((client) => `client-${client}`)].flatMap((prefix) => [`${prefix}-cert.pem`, `${prefix}-key.pem`]);
}

function refuseToOverwrite(paths: string[]): void {
  const existing = paths.filter((path) => existsSync(path));
  if (existing.length === 0) return;
  throw new UsageError(`${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; --force writes every file anew, a new CA included`);
}

export async function init(options: TlsInitOptions): Promise<void> {
  const clients = options.client ?? [];
  const twice = clients.find((client, index) => clients.indexOf(client) !== index);
  if (twice !== undefined) throw new UsageError(`--client: ${twice} is given twice`);
  if (!options.force) refuseToOverwrite(fileNames(clients).map((name) => join(options.outDir, name)));
  // Loaded here only: the X.509 library takes a few hundred ms to load, which no other command should pay.
  const { generateTlsFiles } = await import("../tls/certificates.js");
  const files = await generateTlsFiles({ commonName: options.cn, serverNames: options.san ?? DEFAULT_SERVER_NAMES, clients, validity: { days: options.days } });
  mkdirSync(options.outDir, { recursive: true });
  const out = Output.choose(options);
  for (const file of files) {
    const path = join(options.outDir, file.name);
    const mode = file.privateKey ? 0o600 : 0o644;
    writeFileSync(path, file.contents, { mode, flag: options.force ? "w" : "wx" });
    // The mode given to writeFileSync applies only to a file it creates, not to one --force overwrites.
    chmodSync(path, mode);
    out.record({ wrote: path });
  }
}
