// Build everything: generate the wire code from the .proto files, then type-check and compile
// every workspace with tsc in dependency order.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { workspaces } from "./workspaces.mjs";

const root = new URL("..", import.meta.url).pathname;
const bin = (name) => join(root, "node_modules", ".bin", name);
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` };
const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: "inherit", env });

const proto = join(root, "packages", "proto");
run(bin("buf"), ["generate"], proto);
run(bin("buf"), ["build", "-o", join(proto, "descriptors.binpb")], proto);

const projects = workspaces()
  .map((w) => w.dir)
  .filter((d) => existsSync(join(d, "tsconfig.json")))
  .map((d) => relative(root, d));
run(bin("tsc"), ["-b", ...projects]);
