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

/**
 * The same packages grouped in layers: every package's @cloister dependencies are in earlier
 * layers, so the packages of one layer can be compiled together.
 */
export function workspaceLayers() {
  const list = workspaces();
  const depth = new Map();
  for (const w of list) {
    const deps = Object.keys({ ...w.pkg.dependencies, ...w.pkg.devDependencies }).filter((d) => depth.has(d));
    depth.set(w.pkg.name, deps.length ? Math.max(...deps.map((d) => depth.get(d))) + 1 : 0);
  }
  const layers = [];
  for (const w of list) {
    const d = depth.get(w.pkg.name);
    layers[d] ??= [];
    layers[d].push(w);
  }
  return layers;
}
