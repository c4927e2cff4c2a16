// The CLI's own behaviour without a platform: version, exit codes, discovery, completion, data
// directory resolution, contexts, argument defaults.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { UsageError } from "../src/args.js";
import { fillArgumentDefaults } from "../src/commands/tasks.js";
import { readContexts, selectContext, writeContexts } from "../src/contexts.js";
import { resolveDataDir } from "../src/data-dir.js";

const BIN = fileURLToPath(new URL("../../bin/cloister.js", import.meta.url));
const PKG = fileURLToPath(new URL("../../package.json", import.meta.url));
const work = realpathSync(mkdtempSync(join(tmpdir(), "cloister-cli-cmd-")));

function cli(args: string[], cwd = work): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd,
        env: {
          ...process.env,
          CLOISTER_CONFIG_DIR: join(work, "config"),
          CLOISTER_HOME: "",
          CLOISTER_SESSION: "",
        },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("exit codes and the version", () => {
  test("--version prints the package version and exits 0", async () => {
    const { version } = (await import(PKG, { with: { type: "json" } })).default as { version: string };
    const r = await cli(["--version"]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  });

  test("every kind of usage error exits 2; help exits 0", async () => {
    for (const args of [
      ["task", "create"], // missing required option (commander)
      ["no-such-command"], // unknown command (commander)
      ["task", "get"], // missing argument (commander)
      ["file", "encrypt", "a", "b", "--schema", "aes-128"], // our own parser
      ["task", "create", "--function", "f", "--executor", "cobol"], // a value commander checks for us
      ["function", "builtins", "-o", "yaml"],
      ["completion", "zsh"],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^cloister: /, `${args.join(" ")} says what is wrong`);
      assert.equal(r.stdout, "", "nothing on stdout");
    }
    assert.equal((await cli(["--help"])).code, 0);
    assert.equal((await cli(["task", "--help"])).code, 0);
  });
});

describe("discovery", () => {
  test("function builtins lists every builtin with its arguments, inputs and outputs", async () => {
    const r = await cli(["function", "builtins", "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const all = JSON.parse(r.stdout) as Array<{
      name: string;
      arguments: Array<{ name: string; type: string }>;
      inputs: string[];
    }>;
    const psi = all.find((b) => b.name === "builtin-ordered-set-intersect")!;
    assert.deepEqual(psi.arguments, [{ name: "order", type: "string", optional: false }]);
    assert.deepEqual(psi.inputs, ["input_data1", "input_data2"]);
    assert.ok(all.some((b) => b.name === "builtin-echo"));
    const table = await cli(["function", "builtins"]);
    assert.match(table.stdout, /^NAME\s+ARGUMENTS\s+INPUTS\s+OUTPUTS\n/);
    assert.match(table.stdout, /\nbuiltin-echo\s+message\s+-\s+-\n/);
    assert.match((await cli(["function", "builtins", "-o", "wide"])).stdout, /WHAT IT DOES/);
  });

  test("bash completion covers the command tree and is valid bash", async () => {
    const r = await cli(["completion", "bash"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /complete -F _cloister cloister/);
    assert.match(r.stdout, /"task"\) subs="create get assign approve invoke cancel result\b[^"]*"/);
    assert.match(r.stdout, /"context"\) subs="list use current delete"/);
    execFileSync("bash", ["-n"], { input: r.stdout });
    // Completing `cloister ta` → task; `cloister task cr` → create.
    const complete = (line: string) =>
      execFileSync(
        "bash",
        [
          "-c",
          `${r.stdout}\nCOMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _cloister; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8" },
      ).trim();
    assert.equal(complete("cloister ta"), "task");
    assert.equal(complete("cloister task cr"), "create");
    assert.match(complete("cloister task create --fu"), /--function/);
  });
});

describe("the data directory", () => {
  test("is absolute: the nearest .cloister up from here, else ./.cloister; an explicit one is resolved", () => {
    const top = join(work, "checkout");
    mkdirSync(join(top, ".cloister"), { recursive: true });
    mkdirSync(join(top, "a", "b"), { recursive: true });
    assert.deepEqual(resolveDataDir(undefined, join(top, "a", "b")), {
      path: join(top, ".cloister"),
      explicit: false,
    });
    const lone = mkdtempSync(join(tmpdir(), "cloister-lone-"));
    assert.equal(resolveDataDir(undefined, lone).path, join(lone, ".cloister"));
    assert.deepEqual(resolveDataDir("rel/dir", lone), { path: join(lone, "rel", "dir"), explicit: true });
  });

  test("from a directory without one, commands explain the missing trust files with absolute paths", async () => {
    const lone = realpathSync(mkdtempSync(join(tmpdir(), "cloister-lone-")));
    const r = await cli(["task", "get", "task-x"], lone);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`^cloister: cannot read ${join(lone, ".cloister", "as_root_ca.pem")}: give --as-root-ca`),
    );
    assert.doesNotMatch(r.stderr, /ENOENT/);
    const a = await cli(["attest", "localhost:1"], lone);
    assert.equal(a.code, 1);
    assert.doesNotMatch(a.stderr, /ENOENT/);
  });
});

describe("contexts", () => {
  test("saved with mode 0600, selected by name or as the current one, listed as a table", async () => {
    const path = join(work, "ctx", "contexts.json");
    const c = { authentication: "a:1", frontend: "f:1", as_root_ca: "/ca", enclave_info: "/ei" };
    writeContexts(
      { current: "one", contexts: { one: { ...c, session: { id: "u", token: "t" } }, two: c } },
      path,
    );
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const file = readContexts(path);
    assert.equal(selectContext(file, undefined)?.name, "one");
    assert.equal(selectContext(file, "two")?.context.frontend, "f:1");
    assert.throws(() => selectContext(file, "three"), /no context named three \(known: one, two\)/);

    writeContexts(
      { current: "one", contexts: { one: { ...c, session: { id: "u", token: "t" } }, two: c } },
      join(work, "config", "contexts.json"),
    );
    const list = await cli(["context", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      /^CURRENT\s+NAME\s+FRONTEND\s+USER\n\*\s+one\s+f:1\s+u\n\s+two\s+f:1\s+\(logged out\)\n$/,
    );
    assert.equal((await cli(["context", "use", "two"])).code, 0);
    assert.equal((await cli(["context", "current"])).stdout, "two\n");
    assert.equal((await cli(["--context", "one", "context", "current"])).stdout, "one\n");
    assert.equal((await cli(["context", "use", "nope"])).code, 2);
    const json = JSON.parse((await cli(["context", "list", "-o", "json"])).stdout);
    assert.equal(json.find((x: { current: boolean }) => x.current).name, "two");
    assert.ok(!JSON.stringify(json).includes('"t"'), "tokens are never listed");
  });
});

describe("task arguments", () => {
  const declared = [
    { key: "order", defaultValue: "ascending", allowOverwrite: true },
    { key: "message", defaultValue: "", allowOverwrite: true },
    { key: "fixed", defaultValue: "x", allowOverwrite: false },
  ];
  test("declared defaults fill missing arguments; the rest is named", () => {
    const args: Record<string, unknown> = { message: "hi" };
    fillArgumentDefaults(args, declared);
    assert.deepEqual(args, { message: "hi", order: "ascending" });
    assert.throws(
      () => fillArgumentDefaults({}, declared),
      (e) => e instanceof UsageError && /give message/.test(e.message),
    );
    assert.throws(
      () => fillArgumentDefaults({ message: "m", fixed: "y" }, declared),
      /fixed is fixed by the function/,
    );
    assert.throws(
      () => fillArgumentDefaults({ message: "m", other: 1 }, declared),
      /declares no argument other/,
    );
  });
});
