import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GvisorBackend, leftoverCgroups, packArchive } from "@cloister/libos";
import { type ExecutionRequest, MemoryTaskRuntime, TaskFailure } from "@cloister/runtime";
import { CANCELED_REASON, LibosExecutor, TIMEOUT_REASON } from "../src/index.js";
import { goProgram, type NodeTrust, nodeTrust, runtimeSession } from "./support.js";

const FIXTURES = new URL("../../test/fixtures/", import.meta.url).pathname;

/** Records the instances it launches, so the test can check that none of them is left. */
class RecordingBackend extends GvisorBackend {
  readonly ids: string[] = [];
  override async launch(...args: Parameters<GvisorBackend["launch"]>) {
    const instance = await super.launch(...args);
    this.ids.push(instance.id);
    return instance;
  }
}

let t: NodeTrust;
let backend: RecordingBackend;
let executor: LibosExecutor;
let program: Buffer;

function request(
  payload: Buffer,
  mode: string,
  o: { signal?: AbortSignal; timeoutMs?: number; evidence?: Buffer[] } = {},
): ExecutionRequest {
  return {
    taskId: `t-${mode}-${Math.random().toString(16).slice(2)}`,
    functionName: "misbehave",
    payload,
    executorType: "libos",
    executor: "libos",
    arguments: { mode },
    argv: ["mode", mode],
    runtime: new MemoryTaskRuntime(),
    limits: { timeoutMs: o.timeoutMs ?? 20_000, memoryBytes: 256 << 20, maxReturnBytes: 1 << 20 },
    signal: o.signal ?? new AbortController().signal,
    recordEvidence: (e) => o.evidence?.push(e),
  };
}

const fails = (p: Promise<unknown>, reason: RegExp | string) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TaskFailure, `not a TaskFailure: ${String(e)}`);
    if (typeof reason === "string") assert.equal(e.message, reason);
    else assert.match(e.message, reason);
    return true;
  });

before(async () => {
  t = await nodeTrust();
  backend = new RecordingBackend({ stateDir: join(t.dataDir, "state") });
  executor = new LibosExecutor({
    backend,
    runtimes: { static: { session: await runtimeSession(backend, "static", t) } },
    poolSize: 1,
    memoryBytes: 256 << 20,
  });
  await executor.start();
  program = goProgram(join(FIXTURES, "misbehave.go"));
});

/** Processes whose command line names `needle` (runsc's sandbox, gofer and launcher all do). */
function processesMentioning(needle: string): string[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(needle);
      } catch {
        return false;
      }
    });
}

after(async () => {
  await executor.close();
  assert.deepEqual(processesMentioning(join(t.dataDir, "state")), []);
  t.identity.close();
  assert.deepEqual(await backend.listContainers(), []);
  assert.ok(backend.ids.length >= 8);
  assert.deepEqual(
    leftoverCgroups().filter((d) => backend.ids.some((id) => d.endsWith(id))),
    [],
  );
});

describe("LibOS executor on gVisor: limits and escapes end as clean task failures", () => {
  test("a well-behaved payload returns its stdout and its evidence", async () => {
    const evidence: Buffer[] = [];
    assert.equal(await executor.execute(request(program, "fine", { evidence })), "ok");
    assert.equal(evidence.length, 1);
    assert.equal(JSON.parse(evidence[0]!.toString()).schema, "cloister.libos.evidence/1");
  });

  test("network, host files and the read-only root are out of reach", async () => {
    assert.equal(
      await executor.execute(request(program, "escape")),
      "net=true file=true repo=true write=true",
    );
  });

  test("a runaway loop hits the wall-clock deadline", async () => {
    await fails(executor.execute(request(program, "loop", { timeoutMs: 1500 })), TIMEOUT_REASON);
  });

  test("a CPU limit from the manifest kills the payload, not the agent", async () => {
    const archive = packArchive([
      {
        path: "cloister-function.toml",
        data: Buffer.from(
          'schema = "cloister.libos/1"\nruntime = "static"\ncommand = ["/app/prog"]\n[resources]\ncpu_s = 1\n',
        ),
      },
      { path: "prog", data: program, mode: 0o755 },
    ]);
    await fails(executor.execute(request(archive, "loop")), /^the payload was killed by SIG(XCPU|KILL)/);
  });

  test("a memory bomb, a fork bomb, a crash and a flood of output each fail the task", async () => {
    await fails(executor.execute(request(program, "memory")), /killed|died|exited/);
    await fails(executor.execute(request(program, "fork", { timeoutMs: 8000 })), /./);
    await fails(executor.execute(request(program, "crash")), "the payload exited with status 2");
    await fails(executor.execute(request(program, "output")), /limit exceeded/);
    // …and the executor keeps serving.
    assert.equal(await executor.execute(request(program, "fine")), "ok");
  });

  test("cancel stops a running payload at once", async () => {
    const control = new AbortController();
    const run = executor.execute(request(program, "sleep", { signal: control.signal }));
    setTimeout(() => control.abort(new Error("cancelled")), 1500);
    await fails(run, CANCELED_REASON);
  });
});
