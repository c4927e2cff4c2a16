// The zygote's Python files are pinned by digests in the compiled (measured) code.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SandboxUnavailableError } from "@cloister/sandbox";
import { ZYGOTE_SHA256 } from "../src/zygote-digests.js";
import { checkZygoteFiles, ZYGOTE_DIR } from "../src/zygote-pool.js";

test("src/zygote-digests.ts names every zygote file with its digest", () => {
  const files = readdirSync(ZYGOTE_DIR).filter((f) => f.endsWith(".py"));
  const actual = Object.fromEntries(
    files.sort().map((f) => [
      f,
      createHash("sha256")
        .update(readFileSync(join(ZYGOTE_DIR, f)))
        .digest("hex"),
    ]),
  );
  assert.deepEqual(
    actual,
    ZYGOTE_SHA256,
    "zygote/*.py changed: update src/zygote-digests.ts to these digests",
  );
  checkZygoteFiles();
});

test("a changed zygote file is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "cloister-zygote-"));
  try {
    cpSync(ZYGOTE_DIR, dir, { recursive: true });
    writeFileSync(join(dir, "task.py"), `${readFileSync(join(dir, "task.py"), "utf8")}\n# changed\n`);
    assert.throws(() => checkZygoteFiles(dir), SandboxUnavailableError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
