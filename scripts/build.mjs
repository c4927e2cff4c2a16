// Build everything: generate the wire code from the .proto files, then type-check and compile
// every workspace with tsc in dependency order.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { workspaceLayers, workspaces } from "./workspaces.mjs";

const root = new URL("..", import.meta.url).pathname;
const bin = (name) => join(root, "node_modules", ".bin", name);
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` };
const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: "inherit", env });

const proto = join(root, "packages", "proto");
run(bin("buf"), ["generate"], proto);
run(bin("buf"), ["build", "-o", join(proto, "descriptors.binpb")], proto);
// Other workspaces that carry their own .proto files (e.g. the kubelet API of the device plugin).
for (const { dir } of workspaces()) {
  if (dir !== proto && existsSync(join(dir, "buf.gen.yaml"))) run(bin("buf"), ["generate"], dir);
}

// Native parts a workspace builds itself (e.g. the LibOS guest agent, a Go binary).
for (const { dir } of workspaces()) {
  const script = join(dir, "scripts", "build-native.mjs");
  if (existsSync(script)) run(process.execPath, [script], dir);
}

/** A package folder someone has only just created (no sources yet) is not built. */
const hasSources = (d) =>
  existsSync(join(d, "src")) && readdirSync(join(d, "src")).some((f) => f.endsWith(".ts"));

// One tsc run per dependency layer: tsc may compile the projects it is given in parallel, so a
// package must never share a run with one it depends on.
for (const layer of workspaceLayers()) {
  const projects = layer
    .map((w) => w.dir)
    .filter((d) => existsSync(join(d, "tsconfig.json")) && hasSources(d))
    .map((d) => relative(root, d));
  if (projects.length) run(bin("tsc"), ["-b", ...projects]);
}

// Workspaces with a browser bundle (the console UI): type-check it, then bundle it with esbuild.
for (const { dir } of workspaces()) {
  if (!existsSync(join(dir, "bundle.mjs"))) continue;
  if (existsSync(join(dir, "ui", "tsconfig.json"))) run(bin("tsc"), ["-p", join(dir, "ui")]);
  run(process.execPath, [join(dir, "bundle.mjs")], dir);
}
