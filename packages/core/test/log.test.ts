import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const LOG = new URL("../src/log.js", import.meta.url).href;

/** Runs `body` in a fresh process (logger from ../src/log.js as `createLogger`) and returns its stderr lines. */
function stderrOf(body: string): Array<Record<string, unknown>> {
  const r = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", `import { createLogger } from ${JSON.stringify(LOG)};\n${body}`],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test("lines logged together go out in order, from every logger of the process, before it exits", () => {
  const lines = stderrOf(`
    const a = createLogger("a"), b = createLogger("b");
    for (let i = 0; i < 5; i++) { a.info({ task: "t" + i }, "one"); b.info({ task: "t" + i }, "two"); }
    process.exit(0);
  `);
  assert.deepEqual(
    lines.map((l) => `${l.name}:${l.task}`),
    Array.from({ length: 5 }, (_, i) => [`a:t${i}`, `b:t${i}`]).flat(),
  );
});

test("a line is written soon after it is logged, without waiting for more or for the exit", () => {
  const r = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { createLogger } from ${JSON.stringify(LOG)};
       createLogger("x").info({ task: "t1" }, "first");
       // Killed outright: no exit handler runs, so only what was already written is there.
       setTimeout(() => process.kill(process.pid, "SIGKILL"), 300);`,
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(r.signal, "SIGKILL");
  assert.match(r.stderr, /"msg":"first"/);
});

test("the ids-only view of a logger writes the same lines, unredacted, while the logger still redacts", () => {
  const lines = stderrOf(`
    const log = createLogger("x");
    const { idsOnlyLogger } = await import(${JSON.stringify(LOG)});
    idsOnlyLogger(log).info({ task: "t1", generation: 2 }, "task started");
    log.info({ token: "t" }, "after");
    process.exit(0);
  `);
  assert.deepEqual(
    lines.map((l) => [l.name, l.msg, l.task, l.generation, l.token]),
    [
      ["x", "task started", "t1", 2, undefined],
      ["x", "after", undefined, undefined, "[redacted]"],
    ],
  );
});

test("secrets are redacted", () => {
  const [line] = stderrOf(
    `createLogger("x").info({ password: "hunter2", nested: { token: "t" } }, "login"); process.exit(0);`,
  );
  assert.equal(line?.password, "[redacted]");
  assert.deepEqual(line?.nested, { token: "[redacted]" });
});
