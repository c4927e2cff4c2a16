import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

// dist/test → the repository root.
const root = new URL("../../../../", import.meta.url).pathname;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name === "gen") continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

test("product code raises failures by catalog kind, never as a literal code and text", () => {
  // A literal `new CloisterError(Status.X, "text")` is a failure outside the catalog (docs/errors.md).
  const literal = /new CloisterError\(\s*Status\.[A-Z_]+\s*,\s*["'`]/g;
  const offenders: string[] = [];
  for (const top of ["packages", "services", "executors"]) {
    for (const pkg of readdirSync(join(root, top))) {
      const src = join(root, top, pkg, "src");
      try {
        statSync(src);
      } catch {
        continue;
      }
      for (const file of sources(src)) {
        const text = readFileSync(file, "utf8");
        for (const m of text.matchAll(literal)) {
          const line = text.slice(0, m.index).split("\n").length;
          offenders.push(`${file.slice(root.length)}:${line}`);
        }
      }
    }
  }
  assert.deepEqual(
    offenders,
    [],
    "use cloisterError(kind) and add the failure to packages/core/src/catalog.ts",
  );
});
