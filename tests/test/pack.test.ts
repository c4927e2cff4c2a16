// `npm pack` of the SDK and the CLI (with the @cloister packages they depend on) installs into
// an empty directory outside the monorepo and runs there: the CLI measures and initialises a
// platform, the SDK loads its trust files and exports its error types. Third-party packages
// come from npm's local cache where it has them (--prefer-offline).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

interface Workspace {
  dir: string;
  pkg: { name: string; version: string; dependencies?: Record<string, string>; private?: boolean };
}

/** The @cloister packages `names` need, themselves included. */
async function closure(names: string[]): Promise<Workspace[]> {
  const { workspaces } = (await import(join(ROOT, "scripts", "workspaces.mjs"))) as {
    workspaces(): Workspace[];
  };
  const byName = new Map(workspaces().map((w) => [w.pkg.name, w]));
  const out = new Map<string, Workspace>();
  const visit = (name: string) => {
    const w = byName.get(name);
    if (!w || out.has(name)) return;
    out.set(name, w);
    for (const dep of Object.keys(w.pkg.dependencies ?? {})) visit(dep);
  };
  for (const n of names) visit(n);
  return [...out.values()];
}

test("the packed SDK and CLI install and run in an empty directory", { timeout: 300_000 }, async () => {
  const packages = await closure(["@cloister/cli", "@cloister/sdk"]);
  for (const w of packages) {
    assert.ok(!w.pkg.private, `${w.pkg.name} is publishable`);
    for (const [dep, range] of Object.entries(w.pkg.dependencies ?? {}))
      assert.notEqual(range, "*", `${w.pkg.name} names a real version range for ${dep}`);
  }
  const work = mkdtempSync(join(tmpdir(), "cloister-pack-"));
  const tarballs = join(work, "tarballs");
  mkdirSync(tarballs);
  const npm = (args: string[], cwd: string) =>
    execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  npm(["pack", "--pack-destination", tarballs, ...packages.flatMap((w) => ["-w", w.pkg.name])], ROOT);
  const files = readdirSync(tarballs).filter((f) => f.endsWith(".tgz"));
  assert.equal(files.length, packages.length);

  const app = join(work, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  npm(
    ["install", "--prefer-offline", "--no-audit", "--no-fund", ...files.map((f) => join(tarballs, f))],
    app,
  );

  // The CLI: runs from the bin link; measures every service from the installed packages.
  const cloister = (...args: string[]) =>
    execFileSync(join(app, "node_modules", ".bin", "cloister"), args, {
      cwd: app,
      encoding: "utf8",
      env: { ...process.env, CLOISTER_CONFIG_DIR: join(work, "config"), CLOISTER_HOME: "" },
    });
  const { version } = packages.find((w) => w.pkg.name === "@cloister/cli")!.pkg;
  assert.equal(cloister("--version").trim(), version);
  const data = join(work, "data");
  const init = JSON.parse(cloister("--json", "--data-dir", data, "platform", "init"));
  assert.equal(init.enclaveInfo, join(data, "enclave_info.toml"));
  assert.ok(JSON.parse(cloister("function", "builtins", "-o", "json")).length > 5);

  // The SDK: every error type exported, the typed executor names, trust from the files.
  const script = `
    import * as sdk from "@cloister/sdk";
    const trust = sdk.trustFromDataDir(${JSON.stringify(data)});
    const e = new sdk.CloisterError(sdk.Status.NOT_FOUND, "x");
    console.log(JSON.stringify({
      errors: ["CloisterError", "PlatformEndpointError", "TaskWaitTimeoutError", "AttestationError", "ConfigError"].filter((n) => typeof sdk[n] === "function"),
      isError: e instanceof Error && sdk.isCloisterError(e),
      executors: sdk.TASK_EXECUTORS,
      python: sdk.resolveTaskExecutor("python"),
      enclaves: Object.keys(trust.enclaveInfo),
      pem: trust.asRootCaPem.startsWith("-----BEGIN CERTIFICATE-----"),
    }));`;
  const out = JSON.parse(
    execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: app, encoding: "utf8" }),
  );
  assert.deepEqual(out.errors, [
    "CloisterError",
    "PlatformEndpointError",
    "TaskWaitTimeoutError",
    "AttestationError",
    "ConfigError",
  ]);
  assert.equal(out.isError, true);
  assert.deepEqual(out.executors, ["builtin", "mesapy", "python3", "wamr", "javascript", "libos"]);
  assert.equal(out.python, "mesapy");
  assert.ok(out.enclaves.includes("teaclave_frontend_service"));
  assert.equal(out.pem, true);
});
