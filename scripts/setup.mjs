// The set-up step of `npm start` and `npm test` (their pre-hooks): makes a fresh Debian/Ubuntu
// clone ready, and costs one dpkg query when it already is.
//   1. npm dependencies: `npm ci` when node_modules has never been installed.
//   2. Debian packages of scripts/system-packages.txt: `start` needs the ones marked `start:`,
//      `test` all of them. Missing ones are installed with apt-get when we are root; otherwise
//      the exact `sudo apt-get install …` line is printed, and `start` carries on (the platform
//      switches off what it cannot run and says so) while `test` stops.
// CLOISTER_SKIP_SETUP=1 skips the Debian step (e.g. a machine that provides the tools otherwise).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("..", import.meta.url).pathname;
const purpose = process.argv[2] === "test" ? "test" : "start";
const say = (line) => process.stderr.write(`setup: ${line}\n`);

/** Lines of the package list: `name  # why`, a why starting `start:` marks a runtime package. */
export function readPackageList(text) {
  const out = [];
  for (const raw of text.split("\n")) {
    const hash = raw.indexOf("#");
    const name = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (!name) continue;
    const why = hash < 0 ? "" : raw.slice(hash + 1).trim();
    out.push({ name, why, runtime: why.startsWith("start:") });
  }
  return out;
}

function npmDependencies() {
  // Present after any `npm ci`/`npm install`; a fresh clone has none.
  if (existsSync(join(root, "node_modules", ".package-lock.json"))) return;
  say("installing the npm dependencies (npm ci)");
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ["npm", []];
  const r = spawnSync(npm[0], [...npm[1], "ci", "--prefer-offline", "--no-audit", "--no-fund"], {
    cwd: root,
    stdio: "inherit",
  });
  if (r.status !== 0) {
    say("npm ci failed; fix the error above and run the command again");
    process.exit(1);
  }
}

/** Installed packages among `names`, from one dpkg-query call; undefined without dpkg. */
function installed(names) {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const r = spawnSync("dpkg-query", ["-W", "-f=${Package} ${db:Status-Abbrev}\\n", ...names], {
    encoding: "utf8",
  });
  if (r.error) return undefined;
  const ok = new Set();
  for (const line of r.stdout.split("\n")) {
    const [pkg, status] = line.trim().split(/\s+/);
    // `ii` = wanted install, installed; the architecture suffix (pkg:amd64) is dropped.
    if (pkg && status === "ii") ok.add(pkg.split(":")[0]);
  }
  return ok;
}

function systemPackages() {
  if (process.env.CLOISTER_SKIP_SETUP === "1") return;
  // CLOISTER_SYSTEM_PACKAGES: another list (the set-up step's own tests use one).
  const file = process.env.CLOISTER_SYSTEM_PACKAGES ?? join(root, "scripts", "system-packages.txt");
  const list = readPackageList(readFileSync(file, "utf8"));
  const wanted = list.filter((p) => purpose === "test" || p.runtime);
  const have = installed(wanted.map((p) => p.name));
  if (!have) {
    say(
      `not a Debian/Ubuntu system (no dpkg-query); make sure these are available: ${wanted.map((p) => p.name).join(" ")}`,
    );
    return;
  }
  const missing = wanted.filter((p) => !have.has(p.name));
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name);
  say(
    `missing Debian packages: ${missing.map((p) => `${p.name} (${p.why.replace(/^start:\s*/, "")})`).join(", ")}`,
  );
  if (process.getuid?.() === 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    say(`installing them: apt-get install -y ${names.join(" ")}`);
    const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    const install =
      update.status === 0 &&
      spawnSync("apt-get", ["install", "-y", "-qq", ...names], { stdio: "inherit", env });
    if (install && install.status === 0) return;
    say("apt-get could not install them (see above)");
  } else {
    say("install them with:");
    process.stderr.write(`  sudo apt-get install -y ${names.join(" ")}\n`);
  }
  if (purpose === "test") {
    say(
      "the test suite needs them; install them and run `npm test` again (CLOISTER_SKIP_SETUP=1 skips this check)",
    );
    process.exit(1);
  }
  say("starting anyway: what needs them is switched off and named below");
}

// Only when run (the tests import readPackageList without setting anything up).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  npmDependencies();
  systemPackages();
}
