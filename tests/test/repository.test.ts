// The repository stands on its own: no code, help text, doc or test points at files a user of
// the repository does not have (the contributors' machine, documents kept beside the checkout).
// The contract users need lives in docs/.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

// Built from pieces so this file does not match itself.
const SECTION = "\u00a7";
const FORBIDDEN: Array<[RegExp, string]> = [
  [new RegExp(`(?:\\.\\./)+${"shared"}/`), "a folder beside the checkout"],
  [new RegExp(`(?:^|[\\s"'\`(=:])/${"work"}/`), "an absolute path of the development machine"],
  [/\b(?:behaviour|wire|executors-and-files)\.md\b/, "an outside specification document"],
  [/\bspec\/attestation\.md\b/, "an outside specification document"],
  [new RegExp(`helpers-${"common"}`), "contributor notes that are not part of the repository"],
  // Section signs cite an outside document; RFC sections are public and fine.
  [new RegExp(`(?<!RFC \\d+ )${SECTION}\\s?\\d`), "a section of an outside specification"],
];

function trackedTextFiles(): string[] {
  const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return out.split("\0").filter((f) => f && f !== "package-lock.json");
}

test("no file points outside the repository", () => {
  const hits: string[] = [];
  for (const file of trackedTextFiles()) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), "utf8");
    } catch {
      continue; // listed but deleted in the working tree
    }
    if (text.includes("\0")) continue; // binary
    const lines = text.split("\n");
    lines.forEach((line, i) => {
      for (const [pattern, what] of FORBIDDEN)
        if (pattern.test(line)) hits.push(`${file}:${i + 1}: ${what}: ${line.trim().slice(0, 120)}`);
    });
  }
  assert.deepEqual(hits, [], `references outside the repository:\n${hits.join("\n")}`);
});

test("the user contract and the architecture page are in docs/", () => {
  const contract = readFileSync(join(ROOT, "docs", "contract.md"), "utf8");
  for (const heading of [
    "## Wire",
    "## Roles",
    "## Attestation",
    "## File formats",
    "## Executors",
    "## Error codes",
    "## CLI exit codes",
  ])
    assert.ok(contract.includes(heading), `contract.md has ${heading}`);
  assert.match(readFileSync(join(ROOT, "docs", "architecture.md"), "utf8"), /## The task path/);
});
