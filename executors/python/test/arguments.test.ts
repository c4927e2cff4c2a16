import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { flattenArguments } from "../src/index.js";

describe("flattenArguments", () => {
  it("flattens in ascending byte order, strings raw, others as compact sorted JSON", () => {
    assert.deepEqual(flattenArguments({ b: "two", a: 1, é: true, Z: null, c: [1.5, "x", { y: 1, x: [] }] }), [
      "Z",
      "null",
      "a",
      "1",
      "b",
      "two",
      "c",
      '[1.5,"x",{"x":[],"y":1}]',
      "é",
      "true",
    ]);
  });

  it("gives an empty list for no arguments", () => {
    assert.deepEqual(flattenArguments({}), []);
  });
});
