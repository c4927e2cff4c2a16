import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { failsWith, fixture, fixtureText, run } from "./helpers.js";

const BAD_ARGS = "Cannot deserialize arguments";

describe("builtin-ordered-set-intersect", () => {
  const name = "builtin-ordered-set-intersect";
  const outputs = ["output_result1", "output_result2"];
  const fixtureInputs = {
    input_data1: fixture("ordered_set_intersect/psi0.txt"),
    input_data2: fixture("ordered_set_intersect/psi1.txt"),
  };
  it("marks the common lines of the fixture", async () => {
    const { result, runtime } = await run(name, { order: "ascending" }, { inputs: fixtureInputs, outputs });
    assert.equal(result, "3 common items");
    assert.equal(runtime.output("output_result1"), "0101010");
    assert.equal(runtime.output("output_result2"), "01101");
  });
  it("merges descending input (legacy spelling `desending`), hex case-insensitively", async () => {
    const inputs = { input_data1: "ff\nAB\n01\n", input_data2: "FF\nab\n00" };
    const { result, runtime } = await run(name, { order: "desending" }, { inputs, outputs });
    assert.equal(result, "2 common items");
    assert.equal(runtime.output("output_result1"), "110");
    assert.equal(runtime.output("output_result2"), "110");
  });
  it("rejects bad orders, misordered and non-hex input", async () => {
    await failsWith("Invalid order", name, { order: "descending" }, { inputs: fixtureInputs, outputs });
    await failsWith(BAD_ARGS, name, { order: 1 }, { inputs: fixtureInputs, outputs });
    await failsWith("Invalid ordering", name, { order: "desending" }, { inputs: fixtureInputs, outputs });
    await failsWith(
      "Invalid ordering",
      name,
      { order: "ascending" },
      { inputs: { input_data1: "02\n01", input_data2: "" }, outputs },
    );
    await failsWith(
      "Odd number of digits",
      name,
      { order: "ascending" },
      { inputs: { input_data1: "012", input_data2: "" }, outputs },
    );
    await failsWith(
      "Invalid character at position 1",
      name,
      { order: "ascending" },
      { inputs: { input_data1: "0g", input_data2: "" }, outputs },
    );
  });
  it("opens inputs and creates outputs before checking the order", async () => {
    await failsWith(
      "Invalid output file identifier",
      name,
      { order: "bogus" },
      { inputs: fixtureInputs, outputs: ["output_result1"] },
    );
    await failsWith(
      "Invalid input file identifier.",
      name,
      { order: "bogus" },
      { inputs: { input_data1: "" }, outputs },
    );
  });
});

describe("builtin-ordered-set-join", () => {
  const name = "builtin-ordered-set-join";
  const args = { left_column: 0, right_column: 0, ascending: true, drop: true };
  const fixtureInputs = {
    input_data1: fixture("ordered_set_join/join0.csv"),
    input_data2: fixture("ordered_set_join/join1.csv"),
  };
  it("joins the fixture into the GBDT training set", async () => {
    const { result, runtime } = await run(name, args, { inputs: fixtureInputs, outputs: ["output_result"] });
    assert.equal(result, "120 records");
    assert.equal(runtime.output("output_result").trim(), fixtureText("gbdt_training/train.txt").trim());
  });
  it("keeps the left key without drop, joins descending input and quotes when needed", async () => {
    const inputs = { input_data1: 'b,"x,1"\na,y\n', input_data2: 'q,b\nr,a\n"s""",a\n' };
    const { result, runtime } = await run(
      name,
      { left_column: 0, right_column: 1, ascending: false, drop: false },
      { inputs, outputs: ["output_result"] },
    );
    assert.equal(result, "2 records");
    assert.equal(runtime.output("output_result"), 'b,"x,1",q\na,y,r\n');
  });
  it("fails with the legacy texts", async () => {
    const outputs = ["output_result"];
    await failsWith(BAD_ARGS, name, { ...args, left_column: -1 }, { inputs: fixtureInputs, outputs });
    await failsWith(BAD_ARGS, name, { ...args, drop: "true" }, { inputs: fixtureInputs, outputs });
    await failsWith("input1 is empty", name, args, {
      inputs: { input_data1: "", input_data2: "a" },
      outputs,
    });
    await failsWith("input2 is empty", name, args, {
      inputs: { input_data1: "a", input_data2: "\n" },
      outputs,
    });
    await failsWith("invalid index", name, { ...args, right_column: 9 }, { inputs: fixtureInputs, outputs });
    await failsWith(
      "CSV error: record 1 (line: 2, byte: 4): found record with 1 fields, but the previous record has 2 fields",
      name,
      args,
      { inputs: { input_data1: "a,1\nb\n", input_data2: "a,2\nb,3\n" }, outputs },
    );
  });
});

describe("builtin-private-join-and-compute", () => {
  const name = "builtin-private-join-and-compute";
  const dir = "private_join_and_compute/three_party_data/";
  const inputs = {
    input_data0: fixture(`${dir}bank_a.txt`),
    input_data1: fixture(`${dir}bank_b.txt`),
    input_data2: fixture(`${dir}bank_c.txt`),
  };
  const outputs = ["output_data0", "output_data1", "output_data2"];
  it("sums the identities all three banks share, into every output", async () => {
    const { result, runtime } = await run(name, { num_user: 3 }, { inputs, outputs });
    assert.equal(result, "3 users join the task in total.");
    for (const o of outputs) {
      assert.deepEqual(runtime.output(o).split("\n").filter(Boolean).sort(), ["c, 470000", "e, 5033000"]);
    }
  });
  it("skips malformed lines and lets later duplicates win", async () => {
    const two = { input_data0: "a:1\nb:2\nbad line\nx:-3\nb : 5\n:\n", input_data1: "a : 10\nb:1:2\nb:20" };
    const { runtime } = await run(
      name,
      { num_user: 2 },
      { inputs: two, outputs: ["output_data0", "output_data1"] },
    );
    assert.deepEqual(runtime.output("output_data1").split("\n").filter(Boolean).sort(), ["a, 11", "b, 25"]);
  });
  it("requires two parties and their inputs", async () => {
    await failsWith("The demo requires at least two parties!", name, { num_user: 1 }, { inputs, outputs });
    await failsWith(BAD_ARGS, name, { num_user: "3" }, { inputs, outputs });
    await failsWith("Invalid input file identifier.", name, { num_user: 4 }, { inputs, outputs });
  });
});
