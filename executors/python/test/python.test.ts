import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { TaskFailure } from "@cloister/runtime";
import {
  CANCELED_REASON,
  MESAPY_ERROR_BUFFER_TOO_SHORT,
  MESAPY_EXEC_ERROR,
  PythonExecutor,
  TIMEOUT_REASON,
} from "../src/index.js";
import { call, fixture } from "./helpers.js";

const SECRET = `py-secret-${randomBytes(8).toString("hex")}`;
process.env.CLOISTER_PY_TEST_SECRET = SECRET;

const payloadDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "payloads");
const ECHO = "def entrypoint(argv):\n    return argv[1]\n";

describe("PythonExecutor", () => {
  const executor = new PythonExecutor({ poolSize: 2 });

  before(async () => {
    await executor.start();
  });
  after(async () => {
    await executor.close();
  });

  it("accepts (python, mesapy) and (python, python) only", async () => {
    assert.deepEqual(executor.accepts, [
      ["python", "mesapy"],
      ["python", "python"],
    ]);
    await assert.rejects(call(executor, ECHO, { executor: "wamr" }), {
      name: "TaskFailure",
      message: "function not available: (python, wamr)",
    });
  });

  it("echoes an argument (argv = flattened arguments in key order)", async () => {
    const { value } = await call(executor, "def entrypoint(argv):\n    return ' '.join(argv)\n", {
      args: { z: "last", message: "Hello, Teaclave!", n: 3, f: [1, { b: true, a: null }] },
    });
    assert.equal(value, 'f [1,{"a":null,"b":true}] message Hello, Teaclave! n 3 z last');
  });

  it("prefers the execution service's argv when given", async () => {
    // Legacy payloads arrive NUL-terminated.
    const { value } = await call(executor, `${ECHO}\0`, { args: { x: 1 }, argv: ["x", "1.0"] });
    assert.equal(value, "1.0");
  });

  it("reads an input and writes an output (mesapy fixture input.txt)", async () => {
    const source = [
      "def entrypoint(argv):",
      "    f = teaclave_open('input_file', 'rb')",
      "    lines = [line.strip() for line in f]",
      "    f.close()",
      "    with teaclave_open('output_file', 'wb') as out:",
      "        for line in reversed(lines):",
      "            out.write(line.upper() + '\\n')",
      "    print('processed %d lines' % len(lines))",
      "    return '%s %s' % (len(lines), lines[0] == 'Hello')",
    ].join("\n");
    const { value, runtime } = await call(executor, source, {
      inputs: { input_file: readFileSync(fixture("functions", "mesapy", "input.txt")) },
      outputs: ["output_file"],
    });
    assert.equal(value, "2 True");
    assert.equal(runtime.outputs.get("output_file")!.toString(), "WORLD\nHELLO\n");
    assert.deepEqual(runtime.logs, ["processed 2 lines"]);
  });

  it("trains and predicts the py_logistic_reg fixture", async () => {
    const dir = fixture("functions", "py_logistic_reg");
    const { value, runtime } = await call(
      executor,
      readFileSync(join(payloadDir, "logistic_regression.py"), "utf8"),
      {
        args: { alpha: "0.1", iterations: "100" },
        inputs: {
          training_data: readFileSync(join(dir, "train.txt")),
          predict_data: readFileSync(join(dir, "predict.txt")),
        },
        outputs: ["prediction"],
      },
    );
    assert.equal(value, readFileSync(join(dir, "py_result.txt"), "utf8").trim());
    assert.equal(runtime.outputs.get("prediction")!.toString(), "1.0\n1.0\n0.0\n0.0\n0.0\n");
  });

  it("lets MesaPy payloads treat file data as Python 2 strings", async () => {
    const source = [
      "import csv, re, teaclave",
      "def entrypoint(argv):",
      "    data = teaclave.open('in', 'rb').read()",
      "    parts = data.split(',')",
      "    checks = [parts[0] == 'a', 'b' in parts, data[0] == 'a', list(data[:3]) == ['a', ',', 'b'],",
      "              ','.join(parts) == data, {'a': 1}.get(parts[0]) == 1,",
      "              re.match('a,(b)', data).group(1) == 'b', ord(data[-1]) == 0xff,",
      "              next(csv.reader(teaclave.open('in', 'rb')))[1] == 'b',",
      "              len(list(xrange(3))) == 3, isinstance(u'x', basestring), long(2) == 2]",
      "    out = teaclave.open('out', 'wb')",
      "    out.write(data.replace(',', ';'))",
      "    out.write('|caf\u00e9|\u20ac')",
      "    out.close()",
      "    return ''.join('1' if c else '0' for c in checks)",
    ].join("\n");
    const { value, runtime } = await call(executor, source, {
      inputs: { in: Buffer.concat([Buffer.from("a,b,cd\n"), Buffer.from([0xff])]) },
      outputs: ["out"],
    });
    assert.equal(value, "111111111111");
    // File bytes round-trip exactly (0xff stays one byte); a write with text beyond Latin-1
    // is UTF-8, as the Python 2 literal's bytes would have been.
    assert.deepEqual(
      runtime.outputs.get("out"),
      Buffer.concat([Buffer.from("a;b;cd\n"), Buffer.from([0xff]), Buffer.from("|café|€")]),
    );
  });

  it("gives plain bytes and a strict binary file to (python, python) payloads", async () => {
    const source = [
      "def entrypoint(argv):",
      "    data = teaclave_open('in', 'rb').read()",
      "    r = [type(data).__name__, str(data == 'abc')]",
      "    try:",
      "        teaclave_open('out', 'wb').write('text')",
      "    except TypeError:",
      "        r.append('TypeError')",
      "    return ' '.join(r)",
    ].join("\n");
    const { value } = await call(executor, source, {
      executor: "python",
      inputs: { in: "abc" },
      outputs: ["out"],
    });
    assert.equal(value, "bytes False TypeError");
  });

  it("raises the legacy errors for bad modes and unknown or unreadable files", async () => {
    const source = [
      "def attempt(*a):",
      "    try:",
      "        teaclave_open(*a)",
      "        return 'opened'",
      "    except RuntimeError as e:",
      "        return type(e).__name__ + ':' + str(e)",
      "def entrypoint(argv):",
      "    return '|'.join([attempt('in', 'r'), attempt('in', 'w'), attempt('nope', 'rb'),",
      "                     attempt('out', 'rb'), attempt('in', 'wb'), attempt('broken', 'rb'),",
      "                     attempt('in', 'rb'), attempt('out', 'wb')])",
    ].join("\n");
    const { value } = await call(executor, source, {
      inputs: { in: "x", broken: new TaskFailure('Corrupted input file: "f"') },
      outputs: ["out"],
    });
    const NS = "RuntimeError:Teaclave Not Supported";
    const FE = "RuntimeError:fileio_init: teaclave_ffi_error";
    assert.equal(value, [NS, NS, FE, FE, FE, FE, "opened", "opened"].join("|"));
  });

  it("applies the result conventions", async () => {
    // One sandbox per case, so the list is kept to what differs.
    const cases: Array<[string, string]> = [
      ["def entrypoint(argv):\n    return None\n", ""],
      ["def entrypoint(argv):\n    return u'caf\\u00e9'\n", "café"],
      ["def entrypoint(argv):\n    return b'\\xff'\n", MESAPY_EXEC_ERROR],
      ["def entrypoint(argv):\n    return 42\n", MESAPY_EXEC_ERROR],
      ["def entrypoint(argv):\n    import sys\n    sys.exit(0)\n", MESAPY_EXEC_ERROR],
      ["def entrypoint(argv)\n    return 1\n", MESAPY_EXEC_ERROR],
      ["def main(argv):\n    return 'x'\n", MESAPY_EXEC_ERROR],
      ["def entrypoint(argv):\n    return 'x' * 20481\n", MESAPY_ERROR_BUFFER_TOO_SHORT],
      ["def entrypoint(argv):\n    return b'x' * 20480\n", "x".repeat(20480)],
    ];
    const values = await Promise.all(cases.map(([src]) => call(executor, src).then((r) => r.value)));
    assert.deepEqual(
      values,
      cases.map(([, expected]) => expected),
    );
  });

  it("keeps a failed payload's outputs written before the error", async () => {
    const src =
      "def entrypoint(argv):\n    teaclave_open('out', 'wb').write('partial')\n    raise Exception()\n";
    const { value, runtime } = await call(executor, src, { outputs: ["out"] });
    assert.equal(value, MESAPY_EXEC_ERROR);
    assert.equal(runtime.outputs.get("out")!.toString(), "partial");
  });

  describe("escape attempts", () => {
    it("cannot read host files", async () => {
      const src = [
        "import os",
        "def entrypoint(argv):",
        "    r = []",
        "    for p in ['/etc/passwd', '/proc/1/environ', '/work', '/root']:",
        "        try:",
        "            open(p).read()",
        "            r.append('read')",
        "        except Exception as e:",
        "            r.append(type(e).__name__)",
        "    return ' '.join(r)",
      ].join("\n");
      const { value } = await call(executor, src);
      assert.equal(value, "FileNotFoundError FileNotFoundError FileNotFoundError FileNotFoundError");
    });

    it("cannot open a socket", async () => {
      const src = [
        "def entrypoint(argv):",
        "    r = []",
        "    for m in ['socket', '_socket']:",
        "        try:",
        "            __import__(m).socket().connect(('127.0.0.1', 80))",
        "            r.append('connected')",
        "        except ImportError:",
        "            r.append('ImportError')",
        "    return ' '.join(r)",
      ].join("\n");
      assert.equal((await call(executor, src)).value, "ImportError ImportError");
    });

    it("cannot import the JavaScript bridge", async () => {
      const src = [
        "import sys",
        "def entrypoint(argv):",
        "    r = []",
        "    for m in ['js', 'pyodide_js', 'pyodide', 'pyodide.ffi', '_pyodide', '_pyodide_core', 'gc']:",
        "        try:",
        "            __import__(m)",
        "            r.append(m)",
        "        except ImportError:",
        "            pass",
        "    r += [m for m in sys.modules if m.split('.')[0] in ('js', 'pyodide_js', 'pyodide', '_pyodide_core')]",
        "    return 'none' if not r else ' '.join(r)",
      ].join("\n");
      assert.equal((await call(executor, src)).value, "none");
    });

    it("a bypassed import block reaches JavaScript, which is still confined by the sandbox", async () => {
      // Defence in depth is not the boundary: Python code can remove our import hook and reach
      // pyodide's FFI, then the JS Function constructor (js.constructor.constructor). What it
      // finds there is the sandboxed worker process.
      const src = [
        "import sys",
        "def entrypoint(argv):",
        "    sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, '__name__', '') != 'BlockedImports']",
        "    import _pyodide_core",
        "    Function = _pyodide_core.to_js({}).constructor.constructor",
        "    return Function(argv[1])()",
      ].join("\n");
      const js = `
        const fs = process.getBuiltinModule("fs");
        const r = {};
        try { r.passwd = fs.readFileSync("/etc/passwd", "utf8"); } catch (e) { r.passwd = e.code; }
        try { fs.writeFileSync("/x", "x"); r.write = "ok"; } catch (e) { r.write = e.code; }
        r.env = process.env;
        return JSON.stringify(r);`;
      const { value } = await call(executor, src, { argv: ["js", js] });
      const seen = JSON.parse(value) as { passwd: string; write: string; env: object };
      assert.deepEqual(seen, { passwd: "ENOENT", write: "EROFS", env: {} });
      assert.ok(!value.includes(SECRET));
    });

    it("cannot run processes", async () => {
      const src = [
        "import os, subprocess",
        "def entrypoint(argv):",
        "    r = []",
        "    try:",
        "        r.append(str(os.system('id')))",
        "    except Exception as e:",
        "        r.append(type(e).__name__)",
        "    try:",
        "        subprocess.run(['id'])",
        "        r.append('ran')",
        "    except OSError as e:",
        "        r.append('OSError')",
        "    return ' '.join(r)",
      ].join("\n");
      const { value } = await call(executor, src);
      const [system, sub] = value.split(" ");
      assert.notEqual(system, "0", "os.system must not succeed");
      assert.equal(sub, "OSError");
    });

    it("sees no host environment", async () => {
      const src = "import os\ndef entrypoint(argv):\n    return repr(sorted(os.environ.items()))\n";
      const { value } = await call(executor, src);
      assert.equal(value, "[('HOME', '/home/pyodide')]");
      assert.ok(!value.includes(SECRET));
    });

    it("a memory bomb ends in MESAPY_EXEC_ERROR", async () => {
      const src =
        "def entrypoint(argv):\n    hog = []\n    while True:\n        hog.append(bytearray(64 * 1024 * 1024))\n";
      assert.equal((await call(executor, src)).value, MESAPY_EXEC_ERROR);
    });

    it("an endless loop is killed on cancel", async (t) => {
      const ac = new AbortController();
      const started = call(executor, "def entrypoint(argv):\n    while True:\n        pass\n", {
        signal: ac.signal,
      });
      setTimeout(() => ac.abort(), 300);
      const t0 = Date.now();
      await assert.rejects(started, (e: unknown) => {
        assert.ok(e instanceof TaskFailure);
        assert.equal(e.message, CANCELED_REASON);
        return true;
      });
      t.diagnostic(`rejected ${Date.now() - t0} ms after the call (abort at 300 ms)`);
    });

    it("an endless loop is killed at the deadline", async () => {
      await assert.rejects(
        call(executor, "def entrypoint(argv):\n    while True: pass\n", { timeoutMs: 500 }),
        {
          name: "TaskFailure",
          message: TIMEOUT_REASON,
        },
      );
    });
  });

  it("keeps serving after all of the above", async () => {
    assert.equal((await call(executor, ECHO, { args: { message: "alive" } })).value, "alive");
  });
});
