import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERRORS } from "@cloister/core";
import { HINTS } from "../src/hints.js";

// The generator lives in scripts/ (not shipped in any package); dist/test → the repository root.
const script = new URL("../../../../scripts/errors-doc.mjs", import.meta.url);

test("docs/errors.md is the catalog (and the CLI hints) as `npm run docs:errors` renders it", async () => {
  const { render, DOC_PATH } = (await import(script.href)) as {
    render(errors: typeof ERRORS, hints: typeof HINTS): string;
    DOC_PATH: URL;
  };
  const page = readFileSync(DOC_PATH, "utf8");
  assert.equal(page, render(ERRORS, HINTS), "docs/errors.md is out of date: run `npm run docs:errors`");
  for (const kind of Object.keys(ERRORS)) assert.ok(page.includes(`| \`${kind}\` |`), kind);
});
