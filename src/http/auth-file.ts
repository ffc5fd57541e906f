/**
 * The auth file (`wharf serve --auth-file`): `{"tokens": [...], "certificates": [...]}`, who may call
 * the server and what each may do, by bearer token (tokens.ts) or by verified client certificate
 * (client-certificates.ts). One IdentitySource for both: a request with an Authorization header is
 * decided by its token, one without by its client certificate.
 */
import { readFileSync } from "node:fs";
import { parse as parseLossless } from "lossless-json";
import { AuthFileError, isObject, refuseRepeatedNames } from "./auth-entries.js";
import { ClientCertificates } from "./client-certificates.js";
import { firstOf, type Identity, type IdentitySource, type IncomingRequest } from "./identity.js";
import { BearerTokens } from "./tokens.js";

const LISTS = ["tokens", "certificates"] as const;

export class AuthFile implements IdentitySource {
  private readonly source: IdentitySource;

  private constructor(tokens: BearerTokens, certificates: ClientCertificates, readonly certificateCount: number) {
    this.source = firstOf(tokens, certificates);
  }

  /** Reads an auth file; AuthFileError when it cannot be read or is not a valid one. */
  static load(path: string): AuthFile {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new AuthFileError(`${path}: cannot read the auth file: ${(error as Error).message}`);
    }
    return AuthFile.parse(text, path);
  }

  /** An auth file's text; `where` names it in errors. */
  static parse(text: string, where = "auth file"): AuthFile {
    const file = parseText(text, where);
    if (!isObject(file) || LISTS.every((list) => file[list] === undefined)) throw new AuthFileError(`${where}: expected {"tokens": [...]} and/or {"certificates": [...]}`);
    const unknown = Object.keys(file).find((key) => !(LISTS as readonly string[]).includes(key));
    if (unknown !== undefined) throw new AuthFileError(`${where}: unknown field ${JSON.stringify(unknown)} (an auth file has "tokens" and "certificates")`);
    const [tokenEntries, certificateEntries] = LISTS.map((list) => listOf(file[list], list, where)) as [unknown[], unknown[]];
    if (tokenEntries.length + certificateEntries.length === 0) throw new AuthFileError(`${where}: lists no token and no certificate`);
    const tokens = BearerTokens.entriesOf(tokenEntries, where);
    const certificates = ClientCertificates.entriesOf(certificateEntries, where);
    refuseRepeatedNames([...tokens.entries, ...certificates.entries], where);
    return new AuthFile(tokens.source, certificates.source, certificateEntries.length);
  }

  identify(request: IncomingRequest): Identity | undefined {
    return this.source.identify(request);
  }
}

function listOf(value: unknown, list: string, where: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new AuthFileError(`${where}: "${list}" must be a list`);
  return value;
}

function parseText(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Parsers quote the text around the mistake, which may be a token: only the place is told.
    throw new AuthFileError(`${where}: not valid JSON${placeOfMistake(text)}`);
  }
}

/** ` at line L, column C`, from lossless-json, which (unlike JSON.parse) always says where it stopped. */
function placeOfMistake(text: string): string {
  try {
    parseLossless(text);
    return "";
  } catch (error) {
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    if (position === undefined) return "";
    const before = text.slice(0, Number(position)).split("\n");
    return ` at line ${before.length}, column ${before.at(-1)!.length + 1}`;
  }
}
