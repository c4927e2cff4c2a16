import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hasKind } from "@cloister/core";
import {
  parseTaskLog,
  TASK_LOG_MAX_BYTES,
  TASK_LOG_TRUNCATED,
  TaskId,
  taskLogRecords,
} from "@cloister/model";

const logKey = (uuid: string) => taskLogRecords.key(TaskId.fromUuid(uuid)).toString();

import { type RecordBackend, RecordStore } from "@cloister/storage";
import { TaskLogWriter } from "../src/task-log.js";

const UUID = "7c3e0a52-1b7f-4c34-9a8e-2f1b6d0e9a11";

/** The writer's typed store over a map (the raw bytes stay readable for the assertions). */
function memory() {
  const m = new Map<string, Buffer>();
  const backend: RecordBackend = {
    get: async (k) => m.get(k.toString()),
    put: async (k, v) => {
      m.set(k.toString(), v);
    },
    delete: async (k) => {
      m.delete(k.toString());
    },
    keysByPrefix: async (p) =>
      [...m.keys()].filter((k) => k.startsWith(p.toString())).map((k) => Buffer.from(k)),
    batch: async (ops) => {
      for (const op of ops) {
        if (op.type === "put") m.set(op.key.toString(), op.value);
        else m.delete(op.key.toString());
      }
    },
  };
  return { m, records: new RecordStore(backend) };
}

describe("task log writer", () => {
  test("appends for the lease holder only", async () => {
    const store = memory();
    const writer = new TaskLogWriter(store.records, (uuid, generation) => uuid === UUID && generation === 2);
    await writer.append(UUID, 2, ["a", "b"], false);
    await writer.append(UUID, 2, ["c"], false);
    await assert.rejects(writer.append(UUID, 1, ["stale"], false), (e) => hasKind(e, "LEASE_NOT_HELD"));
    const record = parseTaskLog(store.m.get(logKey(UUID)));
    assert.deepEqual(record.lines, ["a", "b", "c"]);
    assert.equal(record.truncated, false);
  });

  test("keeps 1 MiB, then one marker and nothing more; refuses oversized batches", async () => {
    const store = memory();
    const writer = new TaskLogWriter(store.records, () => true);
    const line = "y".repeat(200 * 1024);
    for (let i = 0; i < 6; i++) await writer.append(UUID, 1, [line], false);
    await writer.append(UUID, 1, ["late"], false);
    const record = parseTaskLog(store.m.get(logKey(UUID)));
    assert.equal(record.truncated, true);
    assert.equal(record.lines.at(-1), TASK_LOG_TRUNCATED);
    assert.equal(record.lines.filter((l) => l === TASK_LOG_TRUNCATED).length, 1);
    assert.ok(record.bytes <= TASK_LOG_MAX_BYTES);
    assert.equal(record.lines.length, 6, "five lines fit, then the marker");
    await assert.rejects(writer.append(UUID, 1, ["z".repeat(300 * 1024)], false), (e) =>
      hasKind(e, "TASK_LOG_BATCH_TOO_LARGE"),
    );
    await assert.rejects(writer.append(UUID, 1, Array(5000).fill("z"), false), (e) =>
      hasKind(e, "TASK_LOG_BATCH_TOO_LARGE"),
    );
  });

  test("a node's truncation flag ends the log with the marker", async () => {
    const store = memory();
    const writer = new TaskLogWriter(store.records, () => true);
    await writer.append(UUID, 1, ["only"], true);
    assert.deepEqual(parseTaskLog(store.m.get(logKey(UUID))).lines, ["only", TASK_LOG_TRUNCATED]);
  });
});
