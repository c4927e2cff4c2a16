// Runs every compiled test file of every workspace with node's test runner. Pass workspace
// folders (e.g. `packages/tee`) to run only those; set CLOISTER_TEST_FILTER to a regexp to
// filter file paths.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { workspaces } from "./workspaces.mjs";

const root = new URL("..", import.meta.url).pathname;
const only = process.argv.slice(2).map((a) => join(root, a));
const filter = process.env.CLOISTER_TEST_FILTER ? new RegExp(process.env.CLOISTER_TEST_FILTER) : null;

function collect(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const files = [];
for (const { dir } of workspaces()) {
  if (only.length && !only.some((o) => dir.startsWith(o))) continue;
  collect(join(dir, "dist", "test"), files);
}
const selected = files.filter((f) => !filter || filter.test(f)).map((f) => relative(root, f));
if (selected.length === 0) {
  console.error("no test files found (did the build run?)");
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...selected], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, NODE_NO_WARNINGS: "1" },
});
process.exit(r.status ?? 1);
