import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { TaskFailure } from "@cloister/runtime";
import {
  CANCELED_REASON,
  MESAPY_ERROR_BUFFER_TOO_SHORT,
  MESAPY_EXEC_ERROR,
  PyodideExecutor,
  TIMEOUT_REASON,
} from "../src/index.js";
import { ECHO, payloadContract } from "./contract.js";
import { call } from "./helpers.js";

const SECRET = `py-secret-${randomBytes(8).toString("hex")}`;
process.env.CLOISTER_PY_TEST_SECRET = SECRET;

describe("PyodideExecutor", () => {
  const executor = new PyodideExecutor({ poolSize: 2 });

  before(async () => {
    await executor.start();
  });
  after(async () => {
    await executor.close();
  });

  payloadContract(() => executor);

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
