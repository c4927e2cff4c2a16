// Lists the workspace packages in dependency order (a package after every @cloister/* package it
// depends on), so the build can hand tsc one ordered list instead of hand-kept references.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;

export function workspaces() {
  const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const dirs = [];
  for (const pattern of rootPkg.workspaces) {
    if (pattern.endsWith("/*")) {
      const base = join(root, pattern.slice(0, -2));
      if (!existsSync(base)) continue;
      for (const d of readdirSync(base).sort()) {
        if (existsSync(join(base, d, "package.json"))) dirs.push(join(base, d));
      }
    } else if (existsSync(join(root, pattern, "package.json"))) dirs.push(join(root, pattern));
  }
  const byName = new Map();
  for (const dir of dirs) {
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    byName.set(pkg.name, { dir, pkg });
  }
  const order = [];
  const state = new Map();
  const visit = (name) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "active") throw new Error(`dependency cycle through ${name}`);
    state.set(name, "active");
    const { pkg } = byName.get(name);
    const deps = { ...pkg.dependencies, ...pkg.devDependencies };
    for (const dep of Object.keys(deps)) if (byName.has(dep)) visit(dep);
    state.set(name, "done");
    order.push(byName.get(name));
  };
  for (const name of [...byName.keys()].sort()) visit(name);
  return order;
}
