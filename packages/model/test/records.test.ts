import assert from "node:assert/strict";
import { test } from "node:test";
import { CloisterError } from "@cloister/core";
import {
  DNS_NAMESPACE,
  executorFromLegacy,
  executorToLegacy,
  FunctionId,
  type FunctionRecord,
  fileCryptoFromInfo,
  fileCryptoFromJson,
  fileCryptoToJson,
  functionRecords,
  InputId,
  isRecordIdError,
  OutputId,
  parseExecutor,
  parseExecutorType,
  parseFunction,
  parseInputFile,
  parseOutputFile,
  parseUsage,
  parseUserFunctions,
  serializeFunction,
  serializeInputFile,
  serializeOutputFile,
  serializeUsage,
  serializeUserFunctions,
  stringifyJson,
  TaskId,
  taskRecords,
  userFunctionsRecords,
  uuidV5,
} from "../src/index.js";

const U = "00000000-0000-0000-0000-000000000001";

const err = (code: number, message: string) => (e: unknown) =>
  e instanceof CloisterError && e.code === code && e.message === message && e.kind !== undefined;

test("uuid v5 in the DNS namespace matches the RFC test vector", () => {
  // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
  assert.equal(uuidV5("python.org", DNS_NAMESPACE), "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  assert.equal(
    userFunctionsRecords.key("python.org").toString(),
    "user-886313e1-3b8a-5372-9b90-0c9aee199e5d",
  );
  assert.equal(functionRecords.key(FunctionId.fromUuid(U)).toString(), `function-${U}`);
  assert.equal(taskRecords.key(TaskId.fromUuid(U)).toString(), `task-${U}`);
});

test("external ids split at the first dash; the rest must be a UUID", () => {
  assert.equal(InputId.parse(`input-${U.toUpperCase()}`), U);
  assert.throws(
    () => InputId.parse("nodash"),
    (e) => isRecordIdError(e, "malformed"),
  );
  assert.throws(
    () => InputId.parse("input-xyz"),
    (e) => isRecordIdError(e, "malformed"),
  );
  assert.throws(
    () => InputId.parse(`output-${U}`),
    (e) => isRecordIdError(e, "wrong-kind"),
  );
  assert.equal(InputId.tryParse(`output-${U}`), undefined);
  assert.equal(OutputId.tryParse(`output-${U}`), U);
});

test("FileCryptoInfo validation texts", () => {
  const b = (n: number) => Buffer.alloc(n, 1);
  const info = (schema: string, k: number, iv: number) => ({ schema, key: b(k), iv: b(iv) });
  assert.throws(() => fileCryptoFromInfo(undefined), err(3, '"missing crypto_info"'));
  assert.throws(
    () => fileCryptoFromInfo(info("aes-gcm-64", 16, 12)),
    err(3, "Invalid crypto schema: aes-gcm-64"),
  );
  assert.throws(
    () => fileCryptoFromInfo(info("aes-gcm-128", 15, 12)),
    err(3, "Invalid key length for AesGcm128: 15"),
  );
  assert.throws(
    () => fileCryptoFromInfo(info("aes-gcm-128", 16, 11)),
    err(3, "Invalid iv length for AesGcm128: 11"),
  );
  assert.throws(
    () => fileCryptoFromInfo(info("aes-gcm-256", 16, 12)),
    err(3, "Invalid key length for AesGcm256: 16"),
  );
  assert.throws(
    () => fileCryptoFromInfo(info("aes-gcm-256", 32, 0)),
    err(3, "Invalid iv length for AesGcm256: 0"),
  );
  assert.throws(
    () => fileCryptoFromInfo(info("teaclave-file-128", 32, 0)),
    err(3, "Invalid key length for teaclave_file_128: 32"),
  );
  assert.throws(
    () => fileCryptoFromInfo(info("teaclave-file-128", 16, 12)),
    err(3, "IV is not empty for teaclave_file_128"),
  );
  assert.deepEqual(fileCryptoFromInfo(info("raw", 3, 5)), { schema: "raw" });
  assert.equal(fileCryptoFromInfo(info("aes-gcm-256", 32, 12)).schema, "aes-gcm-256");
});

test("FileCrypto legacy JSON forms", () => {
  const k = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const iv = Buffer.alloc(12, 7);
  const a = fileCryptoToJson({ schema: "aes-gcm-128", key: k, iv });
  assert.equal(stringifyJson(a), `{"AesGcm128":{"key":[${[...k].join(",")}],"iv":[${[...iv].join(",")}]}}`);
  assert.deepEqual(fileCryptoFromJson(a), { schema: "aes-gcm-128", key: k, iv });
  assert.equal(
    stringifyJson(fileCryptoToJson({ schema: "teaclave-file-128", key: k })),
    `{"TeaclaveFile128":{"key":[${[...k].join(",")}]}}`,
  );
  assert.equal(stringifyJson(fileCryptoToJson({ schema: "raw" })), '"Raw"');
  assert.deepEqual(fileCryptoFromJson("Raw"), { schema: "raw" });
  assert.throws(() => fileCryptoFromJson("Other"));
});

test("input/output file records in legacy JSON", () => {
  const cmac = Buffer.alloc(16, 9);
  const input = {
    uuid: U,
    url: "http://h/a",
    cmac,
    crypto: { schema: "raw" as const },
    owners: new Set(["b", "a"]),
  };
  const text = serializeInputFile(input);
  assert.equal(
    text,
    `{"url":"http://h/a","cmac":{"tag":[${[...cmac].join(",")}]},"crypto_info":"Raw","owner":{"uids":["a","b"]},"uuid":"${U}"}`,
  );
  assert.deepEqual(parseInputFile(text), input);
  const out = { ...input, cmac: null };
  const otext = serializeOutputFile(out);
  assert.equal(
    otext,
    `{"url":"http://h/a","cmac":null,"crypto_info":"Raw","owner":{"uids":["a","b"]},"uuid":"${U}"}`,
  );
  assert.deepEqual(parseOutputFile(otext), out);
  // An output record is not an input record (cmac null).
  assert.throws(() => parseInputFile(otext));
});

test("function record, usage counter and user lists in legacy JSON", () => {
  const f: FunctionRecord = {
    uuid: U,
    name: "echo",
    description: "d",
    public: true,
    executorType: "builtin",
    payload: Buffer.from([1, 2]),
    arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
    inputs: [{ name: "in", description: "", optional: false }],
    outputs: [],
    owner: "alice",
    userAllowlist: ["bob"],
    usageQuota: null,
  };
  const text = serializeFunction(f);
  assert.equal(
    text,
    `{"id":"${U}","name":"echo","description":"d","public":true,"executor_type":"Builtin","payload":[1,2],` +
      `"arguments":[{"key":"message","default_value":"","allow_overwrite":true}],"inputs":[{"name":"in","description":"","optional":false}],` +
      `"outputs":[],"owner":"alice","user_allowlist":["bob"],"usage_quota":null}`,
  );
  assert.deepEqual(parseFunction(text), f);
  assert.deepEqual(parseFunction(serializeFunction({ ...f, usageQuota: 3, executorType: "wamr" })), {
    ...f,
    usageQuota: 3,
    executorType: "wamr",
  });
  assert.match(serializeFunction({ ...f, executorType: "python" }), /"executor_type":"Python"/);
  assert.equal(serializeUsage({ functionUuid: U, useNumbers: 2 }), `{"function_id":"${U}","use_numbers":2}`);
  assert.deepEqual(parseUsage(serializeUsage({ functionUuid: U, useNumbers: 2 })), {
    functionUuid: U,
    useNumbers: 2,
  });
  const u = { id: "alice", registeredFunctions: [`function-${U}`], allowedFunctions: [] };
  assert.equal(
    serializeUserFunctions(u),
    `{"id":"alice","registered_functions":["function-${U}"],"allowed_functions":[]}`,
  );
  assert.deepEqual(parseUserFunctions(serializeUserFunctions(u)), u);
});

test("executor names", () => {
  assert.equal(parseExecutorType("wamr"), "wamr");
  assert.throws(() => parseExecutorType("Builtin"), err(3, "Invalid executor type: Builtin"));
  assert.equal(parseExecutor("mesapy"), "mesapy");
  // Plain Python 3 (a Cloister extension) has its own name; `python` stays refused on the wire.
  assert.equal(parseExecutor("python3"), "python3");
  assert.equal(executorFromLegacy(executorToLegacy("python3")), "python3");
  assert.throws(() => parseExecutor("python"), err(3, "Unsupported executor: python"));
});
