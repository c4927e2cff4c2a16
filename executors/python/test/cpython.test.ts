// The CPython zygote executor: the Teaclave payload contract, numpy and MesaPy's `_numpypy`, the
// failure semantics, escapes, and what one task can leave for the next.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEFAULT_LIMITS, TaskFailure } from "@cloister/runtime";
import {
  CANCELED_REASON,
  MEMORY_REASON,
  MESAPY_ERROR_BUFFER_TOO_SHORT,
  MESAPY_EXEC_ERROR,
  PythonExecutor,
  TIMEOUT_REASON,
} from "../src/index.js";
import { ECHO, payloadContract, payloadDir } from "./contract.js";
import { type CallOptions, call, fixture, MemoryRuntime } from "./helpers.js";

const SECRET = `py-secret-${randomBytes(8).toString("hex")}`;
process.env.CLOISTER_PY_TEST_SECRET = SECRET;

async function failure(p: Promise<unknown>): Promise<TaskFailure> {
  const e = await p.then(
    () => assert.fail("expected the task to fail"),
    (x: unknown) => x,
  );
  assert.ok(e instanceof TaskFailure, `expected TaskFailure, got ${String(e)}`);
  return e;
}

describe("PythonExecutor (CPython zygote)", () => {
  const executor = new PythonExecutor({ poolSize: 2, limits: { memoryBytes: 256 << 20 } });
  before(() => executor.start());
  after(() => executor.close());
  const run = (src: string, opts: CallOptions = {}) => call(executor, src, opts);

  payloadContract(() => executor);

  it("has numpy, and scipy and pandas where the system carries them", async () => {
    const src = [
      "import numpy as np",
      "def entrypoint(argv):",
      "    r = [str(int(np.arange(10).sum()))]",
      "    for m in ('scipy.linalg', 'pandas'):",
      "        try:",
      "            __import__(m)",
      "            r.append(m)",
      "        except ImportError:",
      "            pass",
      "    return ' '.join(r)",
    ].join("\n");
    const { value } = await run(src, { executor: "python3" });
    assert.ok(value.startsWith("45"), value);
  });

  it("runs MesaPy's _numpypy payloads: trains, marshals the model, predicts the fixture's labels", async () => {
    const dir = fixture("functions", "py_logistic_reg");
    const source = readFileSync(join(payloadDir, "numpypy_logreg.py"), "utf8");
    const trained = await run(source, {
      args: { operation: "train", train_file: "train", params: "params", scaler: "scaler" },
      inputs: { train: readFileSync(join(dir, "train.txt")) },
      outputs: ["params", "scaler"],
    });
    assert.equal(trained.value, "Training is finished!");
    const params = trained.runtime.outputs.get("params")!;
    const scaler = trained.runtime.outputs.get("scaler")!;
    const predicted = await run(source, {
      args: { operation: "predict", predict_file: "predict", params: "params", scaler: "scaler" },
      inputs: { predict: readFileSync(join(dir, "predict.txt")), params, scaler },
    });
    assert.equal(predicted.value, readFileSync(join(dir, "py_result.txt"), "utf8").trim());
  });

  it("fails a raising MesaPy payload with the exception text, keeping the legacy result", async () => {
    const src = "def entrypoint(argv):\n    teaclave_open('out', 'wb').write('partial')\n    return 1 / 0\n";
    const e = await failure(run(src, { outputs: ["out"] }));
    assert.equal(e.message, `${MESAPY_EXEC_ERROR}: ZeroDivisionError: division by zero`);
    assert.equal(e.legacyReturnValue, MESAPY_EXEC_ERROR);
  });

  it("delivers the outputs a failed payload wrote before the error", async () => {
    const src =
      "def entrypoint(argv):\n    teaclave_open('out', 'wb').write('partial')\n    raise KeyError('k')\n";
    const runtime = new MemoryRuntime({}, ["out"]);
    const e = await failure(
      executor.execute({
        taskId: "t",
        functionName: "f",
        payload: Buffer.from(src),
        executorType: "python",
        executor: "mesapy",
        arguments: {},
        runtime,
        limits: { timeoutMs: 30_000, memoryBytes: 256 << 20, maxReturnBytes: 1 << 20 },
        signal: new AbortController().signal,
      }),
    );
    assert.equal(e.message, `${MESAPY_EXEC_ERROR}: KeyError: 'k'`);
    assert.equal(runtime.outputs.get("out")!.toString(), "partial");
  });

  it("fails a raising Python 3 payload with an Err, no legacy result", async () => {
    const e = await failure(
      run("def entrypoint(argv):\n    raise ValueError('bad input')\n", { executor: "python3" }),
    );
    assert.equal(e.message, "PYTHON_EXEC_ERROR: ValueError: bad input");
    assert.equal(e.legacyReturnValue, undefined);
  });

  it("reports a syntax error, a missing entrypoint and a non-string result with their text", async () => {
    const cases: Array<[string, RegExp]> = [
      ["def entrypoint(argv)\n    return 1\n", /^MESAPY_EXEC_ERROR: SyntaxError: /],
      ["def main(argv):\n    return 'x'\n", /^MESAPY_EXEC_ERROR: NameError: .*entrypoint/],
      ["def entrypoint(argv):\n    return 42\n", /^MESAPY_EXEC_ERROR: TypeError: entrypoint returned int/],
      ["def entrypoint(argv):\n    return 'x' * 20481\n", /^MESAPY_ERROR_BUFFER_TOO_SHORT: /],
    ];
    for (const [src, expected] of cases) assert.match((await failure(run(src))).message, expected);
  });

  it("prints go to the task log", async () => {
    const src =
      "import sys\ndef entrypoint(argv):\n    print('to stdout')\n    sys.stderr.write('to stderr\\n')\n    return ''\n";
    const { runtime } = await run(src);
    assert.deepEqual(runtime.logs.sort(), ["to stderr", "to stdout"]);
  });

  it("sends print lines to the task log while the function runs", async () => {
    // The function prints, then waits for ever: it ends only because the test cancels it on
    // seeing the line, which therefore arrived while the function was still running.
    const src = [
      "import sys, time",
      "def entrypoint(argv):",
      "    print('waiting for the host')",
      "    sys.stderr.write('on stderr too\\n')",
      "    while True:",
      "        time.sleep(0.05)",
      "",
    ].join("\n");
    const controller = new AbortController();
    const seen: string[] = [];
    const runtime = new MemoryRuntime();
    const original = runtime.log.bind(runtime);
    runtime.log = (line: string) => {
      seen.push(line);
      original(line);
      if (seen.length === 2) controller.abort();
    };
    const task = executor.execute({
      taskId: "00000000-0000-0000-0000-000000000000",
      functionName: "test",
      payload: Buffer.from(src),
      executorType: "python",
      executor: "python3",
      arguments: {},
      runtime,
      limits: { ...DEFAULT_LIMITS, timeoutMs: 120_000 },
      signal: controller.signal,
    });
    assert.equal((await failure(task)).message, CANCELED_REASON);
    assert.deepEqual(seen.sort(), ["on stderr too", "waiting for the host"]);
  });

  it("bounds live log lines: a long line is cut, an unterminated last line is kept", async () => {
    const src = [
      "import sys",
      "def entrypoint(argv):",
      "    print('x' * 40000)",
      "    print('after')",
      "    sys.stdout.write('no newline')",
      "    return ''",
      "",
    ].join("\n");
    const { runtime } = await run(src);
    assert.equal(runtime.logs.length, 3);
    assert.ok(runtime.logs[0]!.startsWith("xxxx") && runtime.logs[0]!.endsWith(" […]"));
    assert.ok(Buffer.byteLength(runtime.logs[0]!) <= 16 * 1024 + 8);
    assert.deepEqual(runtime.logs.slice(1), ["after", "no newline"]);
  });

  describe("escape attempts", () => {
    it("cannot read host files or reach a shell", async () => {
      const src = [
        "import os",
        "def entrypoint(argv):",
        "    r = []",
        "    for p in ['/etc/passwd', '/etc/shadow', '/root', '/home', '/bin/sh']:",
        "        try:",
        "            open(p).read()",
        "            r.append('read')",
        "        except Exception as e:",
        "            r.append(type(e).__name__)",
        "    r.append(str(os.system('id') != 0))",
        "    r.append(str(os.path.exists('/proc')))",
        "    return ' '.join(r)",
      ].join("\n");
      const { value } = await run(src);
      assert.deepEqual(value.split(" ").slice(0, 4), [
        "FileNotFoundError",
        "FileNotFoundError",
        "FileNotFoundError",
        "FileNotFoundError",
      ]);
      assert.ok(!value.split(" ").includes("read"), value);
      assert.deepEqual(value.split(" ").slice(-2), ["True", "False"]);
      assert.ok(!value.includes(SECRET));
    });

    it("cannot write anywhere but its private /tmp, nor reach the network", async () => {
      const src = [
        "import socket",
        "def entrypoint(argv):",
        "    r = []",
        "    for p in ['/x', '/usr/x', '/etc/x']:",
        "        try:",
        "            open(p, 'w')",
        "            r.append('wrote')",
        "        except OSError as e:",
        "            r.append(type(e).__name__)",
        "    try:",
        "        socket.create_connection(('93.184.216.34', 80), timeout=2)",
        "        r.append('connected')",
        "    except OSError:",
        "        r.append('offline')",
        "    return ' '.join(r)",
      ].join("\n");
      const { value } = await run(src);
      assert.ok(!value.includes("wrote") && value.endsWith("offline"), value);
    });

    it("sees no host environment", async () => {
      const src = "import os\ndef entrypoint(argv):\n    return repr(sorted(os.environ.items()))\n";
      const { value } = await run(src);
      assert.equal(value, "[]");
      assert.ok(!value.includes(SECRET));
    });

    it("a payload that writes its own reply meets the host's checks", async () => {
      // The child's result memfd is the only reply channel a task has: forge a frame there,
      // skipping task.py's 20,480-byte cap and naming an undeclared output, and exit.
      const src = [
        "import json, os, stat, struct",
        "def frame(header, blobs):",
        "    header['$blobs'] = [[n, len(d)] for n, d in blobs]",
        "    head = json.dumps(header).encode()",
        "    body = 4 + len(head) + sum(len(d) for _, d in blobs)",
        "    return struct.pack('>II', body, len(head)) + head + b''.join(d for _, d in blobs)",
        "def entrypoint(argv):",
        "    fds = [fd for fd in range(3, 64) if _memfd(fd)]",
        "    forged = frame({'t': 'result', 'data': {'value': argv[1] * 30000, 'outputs': ['out', 'stolen']}},",
        "                   [['o0', b'declared'], ['o1', b'undeclared']])",
        "    for fd in fds:",
        "        os.pwrite(fd, forged, 0)",
        "    os._exit(0)",
        "def _memfd(fd):",
        "    try:",
        "        s = os.fstat(fd)",
        "    except OSError:",
        "        return False",
        "    return stat.S_ISREG(s.st_mode) and s.st_nlink == 0",
      ].join("\n");
      const runtime = new MemoryRuntime({}, ["out"]);
      const forged = executor.execute({
        taskId: "t",
        functionName: "f",
        payload: Buffer.from(src),
        executorType: "python",
        executor: "mesapy",
        arguments: {},
        argv: ["v", "v"],
        runtime,
        limits: { timeoutMs: 30_000, memoryBytes: 256 << 20, maxReturnBytes: 1 << 20 },
        signal: new AbortController().signal,
      });
      const e = await failure(forged);
      assert.match(e.message, /^MESAPY_ERROR_BUFFER_TOO_SHORT: /);
      assert.equal(e.legacyReturnValue, MESAPY_ERROR_BUFFER_TOO_SHORT);
      assert.deepEqual([...runtime.outputs.keys()], ["out"]);
    });

    it("a memory bomb ends in the memory limit", async () => {
      const src =
        "def entrypoint(argv):\n    hog = []\n    while True:\n        hog.append(bytearray(64 * 1024 * 1024))\n";
      const e = await failure(run(src));
      assert.equal(e.message, MEMORY_REASON);
      assert.equal(e.legacyReturnValue, MESAPY_EXEC_ERROR);
    });

    it("an endless loop is killed on cancel, and at the deadline", async () => {
      const ac = new AbortController();
      const started = run("def entrypoint(argv):\n    while True:\n        pass\n", { signal: ac.signal });
      setTimeout(() => ac.abort(), 300);
      assert.equal((await failure(started)).message, CANCELED_REASON);
      const timed = run("def entrypoint(argv):\n    while True: pass\n", { timeoutMs: 1000 });
      assert.equal((await failure(timed)).message, TIMEOUT_REASON);
    });
  });

  describe("isolation between tasks", () => {
    // Task A leaves everything it can; task B (another function, so another owner, and then the
    // same function) must see none of it.
    const LEAVE = [
      "import builtins, ctypes, os, sys, threading, time, types",
      "def later(path, secret):",
      "    time.sleep(1.5)",
      "    while True:",
      "        try:",
      "            open(path, 'w').write(secret)",
      "        except OSError:",
      "            pass",
      "        time.sleep(0.01)",
      "def entrypoint(argv):",
      "    secret = argv[1]",
      "    builtins.LEFT = secret",
      "    os.environ['LEFT'] = secret",
      "    sys.modules['left'] = types.ModuleType('left')",
      "    sys.modules['left'].value = secret",
      "    import json; json.LEFT = secret",
      "    threading.Thread(target=later, args=('/tmp/from-thread', secret), daemon=True).start()",
      "    if os.fork() == 0:",
      "        os.setsid()",
      "        if os.fork() == 0:",
      "            later('/tmp/from-daemon', secret)",
      "        os._exit(0)",
      "    return 'left'",
    ].join("\n");
    const LOOK = [
      "import builtins, os, sys, time",
      "def entrypoint(argv):",
      "    time.sleep(1.8)",
      "    import json",
      "    seen = [getattr(builtins, 'LEFT', None), os.environ.get('LEFT'), sys.modules.get('left'),",
      "            getattr(json, 'LEFT', None), sorted(f for f in os.listdir('/tmp') if f.startswith('from-'))]",
      "    return repr(seen)",
    ].join("\n");

    it("globals, environment, module caches, threads, timers and processes do not reach the next task", async () => {
      const secret = `left-${randomBytes(6).toString("hex")}`;
      // Counted: replacements for a failed or refused task, not workers retired for age or
      // busy-time budget (which a loaded machine can reach at any point).
      const replaced = executor.stats()!.replaced;
      const leave = await run(LEAVE, { argv: ["secret", secret], functionId: "fn-a" });
      assert.equal(leave.value, "left");
      // Nothing was left outside the task's processes when it ended: the zygote serves on, so
      // the daemon's and thread's delayed writes would show in /tmp if anything survived.
      assert.equal(executor.stats()!.replaced, replaced);
      for (const functionId of ["fn-a", "fn-b"]) {
        const { value } = await run(LOOK, { functionId });
        assert.ok(!value.includes(secret), value);
        assert.equal(value, "[None, None, None, None, []]");
      }
    });

    it("System V IPC objects left behind get the zygote replaced", async () => {
      const src = [
        "import ctypes",
        "def entrypoint(argv):",
        "    return str(ctypes.CDLL(None).shmget(0, 4096, 0o1600) >= 0)",
      ].join("\n");
      const replaced = executor.stats()!.replaced;
      assert.equal((await run(src, { functionId: "fn-ipc" })).value, "True");
      assert.equal(executor.stats()!.replaced, replaced + 1);
    });

    it("a task that left files behind gets its zygote replaced", async () => {
      const before = executor.stats()!.replaced;
      await run("def entrypoint(argv):\n    open('/tmp/x', 'w').write('x')\n    return ''\n");
      assert.ok(executor.stats()!.replaced >= before + 1, "the zygote was replaced");
      // The next task runs in the fresh zygote and sees a clean /tmp.
      const look = await run(
        "import os\ndef entrypoint(argv):\n    return repr('x' in os.listdir('/tmp'))\n",
      );
      assert.equal(look.value, "False");
    });
  });

  it("keeps serving after all of the above", async () => {
    assert.equal((await run(ECHO, { args: { message: "alive" } })).value, "alive");
  });
});
