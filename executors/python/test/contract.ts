// The Teaclave payload contract of the Python executor (MesaPy payloads and plain Python 3).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Executor, TaskFailure } from "@cloister/runtime";
import { call, fixture } from "./helpers.js";

export const payloadDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "payloads");
export const ECHO = "def entrypoint(argv):\n    return argv[1]\n";

/** Registers the contract's tests (inside a describe) for the executor `get` returns. */
export function payloadContract(get: () => Executor): void {
  let executor: Executor;
  it("(set-up)", () => {
    executor = get();
  });
  it("accepts (python, mesapy) and (python, python3) only", async () => {
    assert.deepEqual(executor.accepts, [
      ["python", "mesapy"],
      ["python", "python3"],
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

  it("gives plain bytes and a strict binary file to (python, python3) payloads", async () => {
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
      executor: "python3",
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
}
