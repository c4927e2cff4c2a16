import assert from "node:assert/strict";
import { test } from "node:test";
import {
  argumentsToArgv,
  canonicalJson,
  formatFloat,
  JsonNumber,
  JsonSyntaxError,
  parseJson,
  stringifyJson,
} from "../src/index.js";

test("numbers keep the integer/float distinction of the source text", () => {
  assert.equal(
    stringifyJson(parseJson("[1, 1.0, 1.50, 1e2, -0, -3, 18446744073709551615, 18446744073709551616]")),
    "[1,1.0,1.5,100.0,-0.0,-3,18446744073709551615,1.8446744073709552e19]",
  );
  const n = parseJson("12");
  assert.ok(n instanceof JsonNumber && n.kind === "int" && n.value === 12);
});

test("floats use the legacy pretty form", () => {
  assert.equal(formatFloat(0.5), "0.5");
  assert.equal(formatFloat(1e15), "1000000000000000.0");
  assert.equal(formatFloat(1e16), "1e16");
  assert.equal(formatFloat(1.5e16), "1.5e16");
  assert.equal(formatFloat(0.0001), "0.0001");
  assert.equal(formatFloat(1e-7), "1e-7");
  assert.equal(formatFloat(-2.25), "-2.25");
  assert.equal(formatFloat(123.456), "123.456");
});

test("canonical JSON sorts keys by byte order at every level and is compact", () => {
  const v = parseJson(
    '{"b": 1, "a": {"z": true, "B": null}, "é": "x", "Z": [ {"y":1,"x":2} ], "10": 0, "9": 0}',
  );
  assert.equal(canonicalJson(v), '{"10":0,"9":0,"Z":[{"x":2,"y":1}],"a":{"B":null,"z":true},"b":1,"é":"x"}');
});

test("strings round-trip with escapes; non-ASCII is not escaped", () => {
  const v = parseJson('"a\\"b\\\\c\\n\\u00e9\\ud83d\\ude00/"');
  assert.equal(v, 'a"b\\c\né😀/');
  assert.equal(stringifyJson(v), '"a\\"b\\\\c\\né😀/"');
});

test("duplicate keys: last wins", () => {
  assert.equal(canonicalJson(parseJson('{"a":1,"a":2}')), '{"a":2}');
});

test("parse errors have serde_json-style texts", () => {
  const cases: Array<[string, string]> = [
    ["", "EOF while parsing a value at line 1 column 0"],
    ["x", "expected value at line 1 column 1"],
    ['{"a" 1}', "expected `:` at line 1 column 6"],
    ["{1:2}", "key must be a string at line 1 column 2"],
    ["[1,2", "EOF while parsing a list at line 1 column 4"],
    ['{"a":1', "EOF while parsing an object at line 1 column 6"],
    ["{} x", "trailing characters at line 1 column 4"],
    ["[1 2]", "expected `,` or `]` at line 1 column 4"],
    ['{"a":1 "b"}', "expected `,` or `}` at line 1 column 8"],
    ["[1,]", "trailing comma at line 1 column 4"],
    ["tru", "EOF while parsing a value at line 1 column 3"],
    ['{\n"a":x}', "expected value at line 2 column 5"],
  ];
  for (const [text, msg] of cases) {
    assert.throws(
      () => parseJson(text),
      (e: unknown) => e instanceof JsonSyntaxError && e.message === msg,
      text,
    );
  }
});

test("argv flattening: sorted keys, strings raw, others as canonical JSON", () => {
  const args = parseJson('{"b": 1.0, "a": "x", "c": {"y": [1, 2], "x": false}, "d": 7}');
  assert.ok(args instanceof Map);
  assert.deepEqual(argumentsToArgv(args), ["a", "x", "b", "1.0", "c", '{"x":false,"y":[1,2]}', "d", "7"]);
});
