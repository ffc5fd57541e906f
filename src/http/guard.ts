/**
 * What keeps a web page from driving a Wharf server through its visitor's
 * browser, which matters most on a server without --auth-file (it asks for
 * no token): a browser can send a "simple" cross-site
 * request (no body, or a text/plain one) without asking first, and a page can
 * rebind its own DNS name to 127.0.0.1. So mutations that carry a foreign
 * Origin are refused, a body needs a JSON or MessagePack content type, and a
 * server bound to loopback answers only to loopback Host names. Programs
 * (the SDK, the CLI, Zizq clients) send no Origin and a loopback Host.
 * Pages on origins the operator names (--allowed-origin) are let in, with CORS.
 */
import net from "node:net";
import { ForbiddenError, WharfError } from "../errors.js";

const MUTATIONS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface GuardedRequest {
  method: string;
  /** The server's scheme: with TLS, its own origin is https://. */
  scheme: "http" | "https";
  /** Host, or HTTP/2's :authority. */
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 (and its IPv4-mapped forms). */
export function isLoopbackAddress(address: string): boolean {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  if (net.isIPv4(bare)) return bare.startsWith("127.");
  if (net.isIPv6(bare)) {
    const lower = bare.toLowerCase();
    if (lower === "::1" || lower === "0:0:0:0:0:0:0:1") return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped !== null && mapped[1]!.startsWith("127.");
  }
  return false;
}

/** A Host (or :authority) naming this machine: localhost (and *.localhost), a loopback address, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = hostName(host);
  if (name === undefined) return false;
  const lower = name.toLowerCase().replace(/\.$/, "");
  return lower === "localhost" || lower.endsWith(".localhost") || isLoopbackAddress(lower);
}

/** The name part of `host[:port]` / `[v6][:port]`; undefined when it is not of that shape. */
function hostName(host: string): string | undefined {
  const trimmed = host.trim();
  if (trimmed.startsWith("[")) {
    const end = trimmed.indexOf("]");
    if (end < 0) return undefined;
    const rest = trimmed.slice(end + 1);
    if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return undefined;
    return trimmed.slice(0, end + 1);
  }
  const match = /^([^:]*)(?::(\d{1,5}))?$/.exec(trimmed);
  return match ? match[1] : undefined;
}

/** The web origins (scheme://host[:port]) whose pages may call the server from a browser, and the Host names they reach it by. */
export class AllowedOrigins {
  private readonly origins: ReadonlySet<string>;
  private readonly hosts: ReadonlySet<string>;

  constructor(origins: readonly string[] = []) {
    const parsed = origins.map(parseOrigin);
    this.origins = new Set(parsed.map(({ origin }) => origin));
    this.hosts = new Set(parsed.map(({ host }) => host));
  }

  has(origin: string | undefined): origin is string {
    return origin !== undefined && this.origins.has(origin.toLowerCase());
  }

  hasHost(host: string): boolean {
    return this.hosts.has(host.trim().toLowerCase());
  }
}

export class InvalidOriginError extends Error {}

/** An origin as browsers send it: scheme, host and port only (`https://ops.example.com`, `http://localhost:5173`). */
function parseOrigin(value: string): { origin: string; host: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOriginError(`${JSON.stringify(value)} is not an origin: give scheme://host[:port], such as https://ops.example.com`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.origin.toLowerCase() !== value.replace(/\/$/, "").toLowerCase()) {
    throw new InvalidOriginError(`${JSON.stringify(value)} is not an origin: give http(s)://host[:port] with no path, query or user, such as https://ops.example.com`);
  }
  return { origin: url.origin.toLowerCase(), host: url.host.toLowerCase() };
}

/**
 * Refuses what a browser on another site could send: 421 for a Host that is not this loopback
 * server's (DNS rebinding), 403 for a mutation from a foreign or opaque (`null`) Origin or marked
 * cross-site by Sec-Fetch-Site. An allowed origin's pages pass, and the Host names of allowed
 * origins count as this server's. Runs before the body is read.
 */
export function guardRequest(request: GuardedRequest, loopbackOnly: boolean, allowed: AllowedOrigins): void {
  if (loopbackOnly && request.host !== undefined && !isLoopbackHost(request.host) && !allowed.hasHost(request.host)) {
    throw new WharfError(421, `this server listens on loopback and answers only to localhost, a loopback address or an --allowed-origin's host, not Host ${JSON.stringify(request.host)}`);
  }
  if (MUTATIONS.has(request.method) && !allowed.has(request.origin)) {
    if (request.origin !== undefined && !sameOrigin(request.origin, request.scheme, request.host)) {
      throw new ForbiddenError(`${request.method} from Origin ${JSON.stringify(request.origin)} is refused: only requests without an Origin, or from this server's own, may change jobs`);
    }
    const site = request.secFetchSite?.trim().toLowerCase();
    if (site !== undefined && site !== "same-origin" && site !== "none") {
      throw new ForbiddenError(`${request.method} from a ${site} browser context is refused`);
    }
  }
}

/** `Origin: <scheme>://<the Host this request came to>`; `null` (a sandboxed or opaque origin) never is. */
function sameOrigin(origin: string, scheme: GuardedRequest["scheme"], host: string | undefined): boolean {
  if (host === undefined) return false;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  return parsed.protocol === `${scheme}:` && parsed.host.toLowerCase() === host.trim().toLowerCase() && origin.replace(/\/$/, "") === parsed.origin;
}

/** What a response to an allowed origin's page carries, so its browser lets the page read it. */
export function corsHeaders(origin: string): Record<string, string> {
  return { "access-control-allow-origin": origin, vary: "Origin", "access-control-expose-headers": "Retry-After, WWW-Authenticate, Wharf-Stream-Id" };
}

const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * The answer to a CORS preflight (OPTIONS with Access-Control-Request-Method): the methods and
 * headers the API takes, for an allowed origin; 403 for any other, whose page then sends nothing.
 */
export function preflightHeaders(origin: string | undefined, allowed: AllowedOrigins): Record<string, string> {
  if (!allowed.has(origin)) {
    throw new ForbiddenError(`CORS preflight from Origin ${JSON.stringify(origin ?? null)} is refused: only an --allowed-origin's pages may call this server`);
  }
  return {
    ...corsHeaders(origin),
    "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE",
    "access-control-allow-headers": "Authorization, Content-Type, Accept, Worker-Id, Last-Event-ID",
    "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
  };
}
