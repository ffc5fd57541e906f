/**
 * The web dashboard's files (src/ui, copied to dist/ui by the build), and Preact and htm from the
 * installed packages: everything the page loads comes from this server, so it works offline and
 * with a Content-Security-Policy that allows nothing else. The files hold no data; the page calls
 * the API with the caller's token like any client.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MethodNotAllowedError, NotFoundError } from "../errors.js";

export const UI_PATH = "/ui";

interface Asset {
  type: string;
  body: Buffer;
}

const UI_DIR = new URL("../ui/", import.meta.url);
const FILES: Record<string, { file: URL; type: string }> = {
  "/ui": { file: new URL("index.html", UI_DIR), type: "text/html; charset=utf-8" },
  "/ui/": { file: new URL("index.html", UI_DIR), type: "text/html; charset=utf-8" },
  "/ui/app.js": { file: new URL("app.js", UI_DIR), type: "text/javascript; charset=utf-8" },
  "/ui/style.css": { file: new URL("style.css", UI_DIR), type: "text/css; charset=utf-8" },
  "/ui/vendor/preact.mjs": { file: new URL(import.meta.resolve("preact")), type: "text/javascript; charset=utf-8" },
  "/ui/vendor/hooks.mjs": { file: new URL(import.meta.resolve("preact/hooks")), type: "text/javascript; charset=utf-8" },
  "/ui/vendor/htm.mjs": { file: new URL(import.meta.resolve("htm")), type: "text/javascript; charset=utf-8" },
};

const cache = new Map<string, Asset>();
let securityPolicy: string | undefined;

/** The asset at `path` (read once, then kept), or undefined for a path the dashboard has not. */
function uiAsset(path: string): Asset | undefined {
  const known = FILES[path];
  if (!known) return undefined;
  let asset = cache.get(path);
  if (!asset) {
    asset = { type: known.type, body: readFileSync(fileURLToPath(known.file)) };
    cache.set(path, asset);
  }
  return asset;
}

/** Only this server's own scripts and the page's one inline script (its import map, by hash) run. */
function uiSecurityPolicy(): string {
  if (securityPolicy !== undefined) return securityPolicy;
  const page = uiAsset("/ui")!.body.toString("utf8");
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? "";
  const hash = createHash("sha256").update(importMap).digest("base64");
  securityPolicy = `default-src 'self'; script-src 'self' 'sha256-${hash}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
  return securityPolicy;
}

/** A dashboard file's answer (200): its headers, and its body unless the request is HEAD. 404 for a path the dashboard has not, 405 for a method but GET or HEAD. */
export function uiAnswer(path: string, method: string): { headers: Record<string, string | number>; body: Buffer | undefined } {
  if (method !== "GET" && method !== "HEAD") throw new MethodNotAllowedError(`${method} is not allowed on ${path} (allowed: GET)`);
  const asset = uiAsset(path);
  if (!asset) throw new NotFoundError(`no dashboard file ${path}`);
  const headers = {
    "content-type": asset.type,
    "content-length": asset.body.length,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "content-security-policy": uiSecurityPolicy(),
  };
  return { headers, body: method === "HEAD" ? undefined : asset.body };
}
