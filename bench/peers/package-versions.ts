/** Versions of the packages a peer runs, as installed, for bench/results/. */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { ROOT } from "../children.js";

const requireFromProject = createRequire(join(ROOT, "package.json"));

export function packageVersions(names: string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, installedVersion(name)]));
}

/** Resolves the package's entry the way the peer loads it, then reads package.json from its folder. */
function installedVersion(name: string): string {
  const entry = requireFromProject.resolve(name);
  const folder = entry.slice(0, entry.lastIndexOf(`/node_modules/${name}/`) + `/node_modules/${name}`.length);
  const manifest = JSON.parse(readFileSync(join(folder, "package.json"), "utf8")) as { version: string };
  return manifest.version;
}
