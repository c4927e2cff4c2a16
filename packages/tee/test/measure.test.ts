import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { measureCode, measureDirectories, measureService } from "../src/index.js";
import { tempDir } from "./helpers.js";

function pkg(root: string, name: string, files: Record<string, string>) {
  const dir = join(root, name);
  mkdirSync(join(dir, "dist", "src"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `@x/${name}` }));
  for (const [f, content] of Object.entries(files)) {
    mkdirSync(join(dir, "dist", "src", f, ".."), { recursive: true });
    writeFileSync(join(dir, "dist", "src", f), content);
  }
  return dir;
}

test("measurement covers exactly the .js code and changes with it", (t) => {
  const a = tempDir(t);
  const b = tempDir(t);
  const p1 = pkg(a, "one", { "index.js": "export const a = 1;\n", "sub/x.js": "x", "index.d.ts": "types" });
  const p2 = pkg(a, "two", { "main.js": "main" });
  const m = measureDirectories([p1, p2]);
  assert.equal(m.length, 32);
  // Same code elsewhere, other order: same measurement (location independent).
  const q1 = pkg(b, "one", { "index.js": "export const a = 1;\n", "sub/x.js": "x" });
  const q2 = pkg(b, "two", { "main.js": "main", "x.js.map": "ignored" });
  assert.deepEqual(measureDirectories([q2, q1]), m);
  // One byte of code changes it; so does renaming a file.
  writeFileSync(join(q1, "dist", "src", "sub", "x.js"), "y");
  assert.notDeepEqual(measureDirectories([q1, q2]), m);
  writeFileSync(join(q1, "dist", "src", "sub", "x.js"), "x");
  assert.deepEqual(measureDirectories([q1, q2]), m);
  writeFileSync(join(q2, "dist", "src", "extra.js"), "");
  assert.notDeepEqual(measureDirectories([q1, q2]), m);

  assert.notDeepEqual(measureService("svc_a", [p1]), measureService("svc_b", [p1]));
  assert.deepEqual(
    measureCode(join(p1, "dist", "src")),
    measureCode(
      [join(p1, "dist", "src", "index.js"), join(p1, "dist", "src", "sub", "x.js")],
      join(p1, "dist", "src"),
    ),
  );
  assert.throws(() => measureDirectories([join(a, "missing")]), { name: "ConfigError" });
});
