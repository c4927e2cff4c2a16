import assert from "node:assert/strict";
import { test } from "node:test";
import {
  argumentsToArgv,
  canonicalJson,
  compareBytes,
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

test("byte order of strings is their UTF-8 order, surrogates and lone surrogates included", () => {
  const units = [
    "a",
    "b",
    "Z",
    "é",
    "\u00ff",
    "\u0800",
    "\uffff",
    "\ue000",
    "\ud83d\ude00",
    "\ud83d",
    "\ude00",
    "x",
  ];
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const word = () => Array.from({ length: rnd(4) }, () => units[rnd(units.length)]).join("");
  const sign = (n: number) => Math.sign(n);
  for (let i = 0; i < 5000; i++) {
    const a = word();
    const b = rnd(3) === 0 ? a + word() : word();
    assert.equal(
      sign(compareBytes(a, b)),
      sign(Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))),
      JSON.stringify([a, b]),
    );
  }
});

test("short and long strings, plain and escaped, parse the same", () => {
  const cases = [
    "",
    "k",
    "task_id",
    "x".repeat(63),
    "x".repeat(64),
    "x".repeat(200),
    'a"b\\c',
    "é☃",
    "tab\there",
  ];
  for (const s of [...cases, "\u2028", "\ud83d\ude00"]) {
    const m = parseJson(JSON.stringify({ [s]: [s] })) as Map<string, string[]>;
    assert.deepEqual([...m], [[s, [s]]]);
    assert.equal(stringifyJson(m), JSON.stringify({ [s]: [s] }));
  }
});
