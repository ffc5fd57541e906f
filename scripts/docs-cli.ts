/** Rewrites the CLI reference in README.md from the commander definitions (src/cli/program.ts). */
import { readFileSync, writeFileSync } from "node:fs";
import { withCliReference } from "../src/cli/reference.js";

const path = new URL("../README.md", import.meta.url);
const before = readFileSync(path, "utf8");
const after = withCliReference(before);
writeFileSync(path, after);
process.stdout.write(after === before ? "README.md: CLI reference already up to date\n" : "README.md: CLI reference rewritten\n");
