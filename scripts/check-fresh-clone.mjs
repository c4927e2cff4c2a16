// The README's commands in a clean clone, as a new user runs them: `git clone`, `npm start`
// (which installs, checks the Debian packages, builds and starts the platform), one CLI call
// against it, Ctrl-C. Run by `.ci/run` before `npm test`; bounded to a few minutes.
//
// As root (CI), bubblewrap is hidden from the platform in a private mount namespace, so the
// run also shows what a machine without it gets: the platform starts with the builtin executor
// and says which executors are off and why.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "cloister-fresh-clone-"));
const clone = join(work, "cloister");
const LIMIT_MS = 6 * 60_000;
const started = Date.now();
const say = (line) => process.stdout.write(`fresh-clone: ${line}\n`);
const seconds = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

say(`cloning ${root} into ${clone}`);
execFileSync("git", ["clone", "--quiet", "--no-hardlinks", root, clone], { stdio: "inherit" });

// Free ports, so the check runs beside anything else on the machine.
const names = [
  "authentication_api",
  "frontend",
  "authentication_internal",
  "management",
  "storage",
  "access_control",
  "scheduler",
];
const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()])));
const config = join(work, "cloister.toml");
writeFileSync(
  config,
  `[listen]\n${names.map((n) => `${n} = "127.0.0.1:${ports[n]}"`).join("\n")}\n[advertised]\n${[
    "authentication_internal:authentication",
    "management:management",
    "storage:storage",
    "access_control:access_control",
    "scheduler:scheduler",
  ]
    .map((pair) => {
      const [port, name] = pair.split(":");
      return `${name} = "https://localhost:${ports[port]}"`;
    })
    .join("\n")}\n`,
);
const dataDir = join(work, "data");

// `npm start` exactly as the README says (plus where to keep state and which ports to use).
const npmStart = `npm start -- --data-dir ${dataDir} --config ${config}`;
const hideBwrap =
  process.getuid?.() === 0 && spawnSync("unshare", ["--version"]).status === 0
    ? `mount --bind /dev/null /usr/bin/bwrap 2>/dev/null || true; `
    : "";
const [cmd, args] = hideBwrap
  ? ["unshare", ["-m", "--propagation", "private", "sh", "-c", `${hideBwrap}exec ${npmStart}`]]
  : ["sh", ["-c", `exec ${npmStart}`]];
say(`${hideBwrap ? "(bubblewrap hidden) " : ""}${npmStart}`);
const platform = spawn(cmd, args, { cwd: clone, stdio: ["ignore", "pipe", "pipe"], detached: true });
let output = "";
const ready = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`not ready after ${LIMIT_MS / 1000} s`)), LIMIT_MS);
  const onData = (chunk) => {
    output += chunk;
    if (output.includes("Cloister is ready.")) {
      clearTimeout(timer);
      resolve();
    }
  };
  platform.stdout.setEncoding("utf8").on("data", onData);
  platform.stderr.setEncoding("utf8").on("data", onData);
  platform.once("exit", (code) => {
    clearTimeout(timer);
    reject(new Error(`npm start exited with ${code}`));
  });
});

const stop = async () => {
  if (platform.exitCode !== null) return;
  const exited = new Promise((resolve) => platform.once("exit", resolve));
  // The whole process group: npm, the CLI and its services.
  process.kill(-platform.pid, "SIGINT");
  const force = setTimeout(() => process.kill(-platform.pid, "SIGKILL"), 20_000);
  await exited;
  clearTimeout(force);
};

let failure;
try {
  await ready;
  say(`platform ready after ${seconds()}`);
  for (const line of output.split("\n"))
    if (/executors|setup:|enclave info/.test(line)) say(`  ${line.trim()}`);
  if (/code changed/.test(output)) throw new Error("a first start must not say the code changed");
  if (hideBwrap && !/executors off\s+wamr, javascript, python(, libos)?: /.test(output))
    throw new Error("without bubblewrap, `npm start` must say which executors are off and why");
  const cli = (...a) =>
    execFileSync("npx", ["cloister", "--data-dir", dataDir, ...a], {
      cwd: clone,
      encoding: "utf8",
      env: { ...process.env, CLOISTER_CONFIG_DIR: join(work, "config") },
    });
  const attested = JSON.parse(cli("--json", "attest", `localhost:${ports.frontend}`));
  // Under the default (combined) topology the frontend's process serves six enclave names.
  if (!attested.verified || !attested.enclaves?.includes("teaclave_frontend_service"))
    throw new Error(`unexpected attestation: ${JSON.stringify(attested)}`);
  say(`npx cloister attest: ${attested.enclave} verified (simulated: ${attested.simulated})`);
  cli(
    "user",
    "login",
    "admin",
    "--password",
    "teaclave",
    "--authentication",
    `localhost:${ports.authentication_api}`,
    "--frontend",
    `localhost:${ports.frontend}`,
  );
  const fn = cli("function", "register", "--name", "builtin-echo", "--argument", "message").trim();
  const task = cli("task", "create", "--function", fn, "--args", '{"message":"hello"}').trim();
  cli("task", "invoke", task);
  const result = cli("task", "result", task, "--timeout", "60");
  if (result !== "hello\n") throw new Error(`task result printed ${JSON.stringify(result)}`);
  say(`npx cloister task result: ${result.trim()} (${seconds()})`);
} catch (e) {
  failure = e;
} finally {
  await stop();
}
if (failure) {
  process.stderr.write(`fresh-clone: FAILED: ${failure.message}\n--- npm start output ---\n${output}\n`);
  process.exit(1);
}
if (!output.includes("Cloister stopped.")) {
  process.stderr.write(`fresh-clone: FAILED: no clean stop\n${output}\n`);
  process.exit(1);
}
say(`ok in ${seconds()}`);
spawnSync("rm", ["-rf", work]);
