/**
 * Verified TLS client certificates as identities (mutual TLS, `--tls-client-ca`): the `certificates`
 * of an auth file name a certificate by its subject's common name or by one of its subject alternative
 * names, so that clients that prove who they are with a certificate (Zizq's) get scopes and queues as
 * tokens do. Only a certificate the server verified against its client CA counts (tls.ts peerIdentity).
 */
import { UnauthorizedError } from "../errors.js";
import { AuthFileError, readIdentityEntry, refuseRepeats, type IdentityEntry, type ReadEntry } from "./auth-entries.js";
import { SCOPES, type Identity, type IdentitySource, type IncomingRequest, type Scope } from "./identity.js";
import { peerIdentity, type PeerIdentity } from "./tls.js";

/** One entry of an auth file's `certificates`, as written there: exactly one of `subject_cn` and `san`. */
export interface CertificateFileEntry extends IdentityEntry {
  /** The certificate's subject common name (CN), exactly. */
  subject_cn?: string;
  /** One of its subject alternative names, as Node writes them: `DNS:worker.internal`, `IP Address:10.0.0.7`, `URI:spiffe://...`, `email:...`. */
  san?: string;
}

const MATCH_FIELDS = ["subject_cn", "san"] as const;
/** The SAN types Node names in a certificate's subjectaltname. */
const SAN = /^(DNS|IP Address|URI|email):\S/;

/** What an entry matches: which field, and the value a certificate must have there. */
interface Match {
  field: (typeof MATCH_FIELDS)[number];
  value: string;
}

interface Known extends ReadEntry {
  match: Match;
}

function matches({ field, value }: Match, peer: PeerIdentity): boolean {
  return field === "subject_cn" ? peer.commonName === value : peer.altNames.includes(value);
}

/** How a refusal names a certificate: by what entries match on, never more than the peer sent. */
function describePeer(peer: PeerIdentity): string {
  const names = [peer.commonName === undefined ? undefined : `CN=${peer.commonName}`, ...peer.altNames].filter((name) => name !== undefined);
  return names.length === 0 ? `with fingerprint ${peer.fingerprint256}` : names.join(", ").slice(0, 200);
}

export class ClientCertificates implements IdentitySource {
  private constructor(private readonly known: readonly Known[]) {}

  /** The entries of an auth file's `certificates`, checked, but for names shared with its other entries (auth-file.ts checks those). */
  static entriesOf(entries: readonly unknown[], where: string): { source: ClientCertificates; entries: readonly ReadEntry[] } {
    const known = entries.map((entry, index): Known => {
      const { own, ...read } = readIdentityEntry(entry, where, `certificates[${index}]`, MATCH_FIELDS);
      return { ...read, match: readMatch(own, `${where}: ${read.label}`) };
    });
    refuseRepeats(known, where, ({ match }) => `${match.field} ${match.value}`, (later, earlier) => `${later.label} names the same certificate as ${earlier.label} (${later.match.field} ${JSON.stringify(later.match.value)})`);
    return { source: new ClientCertificates(known), entries: known };
  }

  /** The first entry, in the file's order, that the verified certificate matches; a 401 when none does. */
  identify(request: IncomingRequest): Identity | undefined {
    const peer = peerIdentity(request);
    if (!peer) return undefined;
    const found = this.known.find(({ match }) => matches(match, peer));
    if (!found) throw new UnauthorizedError(`the client certificate ${describePeer(peer)} matches no entry of this server's auth file: send a bearer token`);
    return found.identity;
  }
}

function readMatch(own: Record<string, unknown>, where: string): Match {
  const given = MATCH_FIELDS.filter((field) => own[field] !== undefined);
  if (given.length !== 1) throw new AuthFileError(`${where}: give exactly one of subject_cn and san, to say which certificate it names`);
  const field = given[0]!;
  const value = own[field];
  if (typeof value !== "string" || value.trim() === "") throw new AuthFileError(`${where}: ${field} must be a non-empty string`);
  if (field === "san" && !SAN.test(value)) {
    throw new AuthFileError(`${where}: san ${JSON.stringify(value.slice(0, 80))} must be TYPE:VALUE with TYPE one of DNS, IP Address, URI, email (as in DNS:worker.internal)`);
  }
  return { field, value };
}

/**
 * A server with mutual TLS and no auth file: the client CA vouches for every client that connects, so
 * each may do everything; it is named (in logs, and for the limits per identity) by its certificate's CN.
 */
const EVERY_SCOPE: ReadonlySet<Scope> = new Set(SCOPES);

export const everyVerifiedCertificate: IdentitySource = {
  identify(request) {
    const peer = peerIdentity(request);
    if (!peer) return undefined;
    return { name: peer.commonName ?? peer.fingerprint256, scopes: EVERY_SCOPE, queues: undefined };
  },
};
