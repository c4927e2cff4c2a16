// A payload that leaves Pyodide reaches the sandboxed worker's channel and can write a result
// frame of its own, bypassing the shim's 20,480-byte cap. The host bounds that reply itself.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TaskFailure } from "@cloister/runtime";
import { MESAPY_ERROR_BUFFER_TOO_SHORT, PyodideExecutor, REPLY_TOO_LARGE_REASON } from "../src/index.js";
import { call } from "./helpers.js";

const MiB = 1024 * 1024;

/** Python source that escapes into JavaScript and writes a forged result frame on fd 3. */
function forging(valueBytes: number, outputBytes: number): string {
  const js = `
    const fs = process.getBuiltinModule("fs");
    const O = ${outputBytes};
    const head = Buffer.from(JSON.stringify({
      t: "result",
      data: { value: "v".repeat(${valueBytes}), outputs: O ? ["out"] : [] },
      $blobs: O ? [["o0", O]] : [],
    }));
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(4 + head.length + O, 0);
    prefix.writeUInt32BE(head.length, 4);
    for (const part of [prefix, head, Buffer.alloc(O, 1)]) {
      for (let off = 0; off < part.length; ) {
        try { off += fs.writeSync(3, part, off); } catch (e) { if (e.code !== "EAGAIN") throw e; }
      }
    }
    for (;;) {}`;
  return [
    "import sys",
    "def entrypoint(argv):",
    "    sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, '__name__', '') != 'BlockedImports']",
    "    import _pyodide_core",
    "    Function = _pyodide_core.to_js({}).constructor.constructor",
    `    return Function(${JSON.stringify(js)})()`,
  ].join("\n");
}

describe("PyodideExecutor: host-side reply limits", () => {
  const executor = new PyodideExecutor({ poolSize: 1, maxOutputBytes: 4 * MiB });
  before(() => executor.start());
  after(() => executor.close());

  for (const [what, value, output, part] of [
    ["a forged 3 MiB result", 3 * MiB, 0, "the result (return value and logs)"],
    ["a forged 20 MiB result", 20 * MiB, 0, "the result (return value and logs)"],
    ["forged 20 MiB outputs", 0, 20 * MiB, "the outputs"],
  ] as const) {
    it(`fails ${what} at once, saying why (not a timeout)`, async () => {
      await assert.rejects(
        call(executor, forging(value, output), { outputs: ["out"], timeoutMs: 120_000 }),
        (e: unknown) => {
          assert.ok(e instanceof TaskFailure, String(e));
          assert.ok(e.message.startsWith(`${REPLY_TOO_LARGE_REASON}: ${part} of `), e.message);
          return true;
        },
      );
    });
  }

  it("a forged result within the frame limits still meets the legacy 20,480-byte buffer", async () => {
    const { value } = await call(executor, forging(30_000, 0));
    assert.equal(value, MESAPY_ERROR_BUFFER_TOO_SHORT);
  });
});
