import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  argumentSpecs,
  dataMap,
  fileSpecs,
  hex,
  integer,
  jsonObject,
  ownerships,
  pairs,
  role,
  schema,
  UsageError,
} from "../src/args.js";

describe("command-line values", () => {
  test("name=value pairs keep '=' in the value and reject a missing name", () => {
    assert.deepEqual(pairs(["a=b=c", "x="]), [
      ["a", "b=c"],
      ["x", ""],
    ]);
    assert.throws(
      () => pairs(["=v"], "--input"),
      (e: unknown) => e instanceof UsageError && /--input: expected name=value/.test(e.message),
    );
    assert.throws(() => pairs(["novalue"]), UsageError);
    assert.deepEqual(pairs(undefined), []);
  });

  test("hex accepts even-length hex and names the field when it is not", () => {
    assert.deepEqual(hex("00ff", "key"), Buffer.from([0, 255]));
    assert.equal(hex(undefined, "iv").length, 0);
    assert.throws(() => hex("abc", "cmac"), /cmac must be hex/);
    assert.throws(() => hex("zz", "key"), /key must be hex/);
  });

  test("function arguments: overwritable key / key=default, fixed key=value", () => {
    assert.deepEqual(argumentSpecs(["message", "order=ascending"], ["save_log=true"]), [
      { key: "message", defaultValue: "", allowOverwrite: true },
      { key: "order", defaultValue: "ascending", allowOverwrite: true },
      { key: "save_log", defaultValue: "true", allowOverwrite: false },
    ]);
    assert.throws(() => argumentSpecs(["=x"], undefined), /empty key/);
    assert.throws(() => argumentSpecs(undefined, ["nokey"]), /--fixed-argument/);
  });

  test("declared files: optional marker and description", () => {
    assert.deepEqual(fileSpecs(["input_data1", "model?:trained model"], "--input"), [
      { name: "input_data1", description: "", optional: false },
      { name: "model", description: "trained model", optional: true },
    ]);
    assert.throws(() => fileSpecs(["?"], "--output"), /--output: empty name/);
  });

  test("ownership lists split on commas and need at least one owner", () => {
    assert.deepEqual(ownerships(["in=alice, bob", "out=carol"], "--input-owner"), [
      { dataName: "in", uids: ["alice", "bob"] },
      { dataName: "out", uids: ["carol"] },
    ]);
    assert.throws(() => ownerships(["in=,"], "--input-owner"), /in has no owners/);
  });

  test("data maps refuse the same name twice", () => {
    assert.deepEqual(dataMap(["a=input-1", "b=input-2"], "--input"), { a: "input-1", b: "input-2" });
    assert.throws(() => dataMap(["a=input-1", "a=input-2"], "--input"), /a given twice/);
  });

  test("task arguments must be a JSON object", () => {
    assert.deepEqual(jsonObject('{"n":1,"s":"x"}', "--args"), { n: 1, s: "x" });
    assert.throws(() => jsonObject("[1]", "--args"), /must be a JSON object/);
    assert.throws(() => jsonObject("null", "--args"), /must be a JSON object/);
    assert.throws(() => jsonObject("{oops", "--args"), /--args: not valid JSON/);
  });

  test("integers are range-checked", () => {
    assert.equal(integer("-1", "--usage-quota", -1, 10), -1);
    assert.equal(integer(" 7 ", "--limit", 1, 10), 7);
    assert.throws(() => integer("0", "--limit", 1, 10), /--limit: must be between 1 and 10/);
    assert.throws(() => integer("1.5", "--limit", 1, 10), /expected an integer/);
    assert.throws(() => integer("ten", "--limit", 1, 10), /expected an integer/);
  });

  test("schemas and roles are checked before anything is sent", () => {
    assert.equal(schema("teaclave-file-128"), "teaclave-file-128");
    assert.throws(() => schema("aes-128"), /expected one of aes-gcm-128/);
    assert.equal(role("DataOwner"), "DataOwner");
    assert.throws(() => role("dataowner"), /did you mean DataOwner\?/);
    assert.throws(
      () => role("Root"),
      (e: unknown) => e instanceof UsageError && !/did you mean/.test(e.message),
    );
  });
});
