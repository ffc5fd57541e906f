/** The README's CLI reference is what `--help` prints today (regenerate it with `npm run docs:cli`). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { cliReference, withCliReference } from "../../src/cli/reference.js";
import { ROOT } from "../helpers/children.js";

test("README.md's CLI reference matches the commander definitions", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  assert.ok(withCliReference(readme) === readme, "README.md's CLI reference is out of date: run `npm run docs:cli`");
});

test("the reference holds every command's help, under the CLI section", () => {
  const reference = cliReference();
  for (const command of ["wharf", "wharf serve", "wharf enqueue", "wharf jobs", "wharf jobs list", "wharf jobs get", "wharf jobs count", "wharf jobs errors", "wharf jobs delete", "wharf jobs retry", "wharf jobs patch", "wharf queues", "wharf health", "wharf reset"]) {
    assert.ok(reference.includes(`$ ${command} --help\nUsage: ${command} `), `no help for ${command}`);
  }
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## CLI\n"), readme.indexOf("\n## ", readme.indexOf("## CLI\n") + 1));
  assert.ok(section.includes(reference), "the reference sits in the ## CLI section");
});
