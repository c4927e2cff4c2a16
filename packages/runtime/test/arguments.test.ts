// Argument flattening.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compactJson, flattenArguments } from "../src/arguments.js";

describe("flattenArguments", () => {
  it("emits [k, v, …] in ascending byte order of keys, strings raw", () => {
    assert.deepEqual(flattenArguments({ b: "two", a: "one", B: "upper" }), [
      "B",
      "upper",
      "a",
      "one",
      "b",
      "two",
    ]);
  });

  it("orders keys by UTF-8 bytes, not UTF-16 code units", () => {
    // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16.
    assert.deepEqual(flattenArguments({ "\u{1F600}": "x", "\uFF21": "y" }), [
      "\uFF21",
      "y",
      "\u{1F600}",
      "x",
    ]);
  });

  it("renders non-strings as compact JSON with sorted object keys", () => {
    assert.deepEqual(
      flattenArguments({
        n: 10,
        neg: -3,
        f: 1.5,
        t: true,
        nil: null,
        arr: [1, "a", false],
        obj: { z: 1, a: { d: 2, c: [] } },
      }),
      [
        "arr",
        '[1,"a",false]',
        "f",
        "1.5",
        "n",
        "10",
        "neg",
        "-3",
        "nil",
        "null",
        "obj",
        '{"a":{"c":[],"d":2},"z":1}',
        "t",
        "true",
      ],
    );
  });

  it("cannot tell 1.0 from 1: integral numbers render as integers", () => {
    assert.deepEqual(flattenArguments({ x: 1.0 }), ["x", "1"]);
    assert.equal(compactJson(-0), "0");
    assert.equal(compactJson(2 ** 63), "9223372036854775808");
  });

  it("uses ryu-style layout for floats", () => {
    assert.equal(compactJson(0.1), "0.1");
    assert.equal(compactJson(0.0001), "0.0001");
    assert.equal(compactJson(1.5e-7), "1.5e-7");
    assert.equal(compactJson(1e-7), "1e-7");
    assert.equal(compactJson(1e30), "1e30");
    assert.equal(compactJson(-1.25e25), "-1.25e25");
    assert.equal(compactJson(123456.789), "123456.789");
  });

  it("escapes strings inside JSON like serde_json", () => {
    assert.equal(compactJson(['a"b\\c\n\u0001/é']), '["a\\"b\\\\c\\n\\u0001/é"]');
  });
});
