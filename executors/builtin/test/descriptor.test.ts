import assert from "node:assert/strict";
import { test } from "node:test";
import { BUILTINS, describeBuiltin } from "../src/index.js";

test("every builtin describes its arguments, inputs and outputs", () => {
  const names = new Set<string>();
  for (const b of BUILTINS) {
    const d = describeBuiltin(b);
    assert.equal(d.name, b.name);
    assert.ok(d.summary.length > 0, `${b.name} has a summary`);
    for (const a of d.arguments) assert.ok(a.type.length > 0, `${b.name}.${a.name} has a type`);
    names.add(d.name);
  }
  assert.equal(names.size, BUILTINS.length);
});

test("descriptors carry the schema the builtin parses", () => {
  const byName = new Map(BUILTINS.map((b) => [b.name, describeBuiltin(b)]));
  assert.deepEqual(byName.get("builtin-echo")!.arguments, [
    { name: "message", type: "string", optional: false },
  ]);
  const psi = byName.get("builtin-ordered-set-intersect")!;
  assert.deepEqual(psi.inputs, ["input_data1", "input_data2"]);
  assert.deepEqual(psi.outputs, ["output_result1", "output_result2"]);
  const face = byName.get("builtin-face-detection")!;
  assert.deepEqual(
    face.arguments.find((a) => a.name === "window_size"),
    { name: "window_size", type: "u32", optional: true },
  );
});
