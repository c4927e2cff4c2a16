import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { handoffQueues, LevelDbStore, SealedStore } from "@cloister/storage";
import { buildSnapshot, NodeDirectory, stagedQueueDepth } from "../src/status.js";

describe("scheduler status", () => {
  test("queue depth counts the staged queue's elements through the sealed store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sched-status-"));
    const inner = await LevelDbStore.open(dir);
    const store = new SealedStore(inner, randomBytes(32));
    try {
      const q = Buffer.from(handoffQueues.staged);
      assert.equal(await stagedQueueDepth(store), 0);
      for (let i = 0; i < 5; i++) await store.enqueue(q, Buffer.from(`task ${i}`));
      await store.enqueue(Buffer.from("cancel_queue"), Buffer.from("other queue"));
      assert.equal(await stagedQueueDepth(store), 5);
      await store.dequeue(q);
      await store.dequeue(q);
      assert.equal(await stagedQueueDepth(store), 3);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("slots are grouped by the node they report; silent ones are dropped", () => {
    const dir = new NodeDirectory();
    dir.seen("a1", { nodeId: "n1", executors: ["builtin/builtin"], epcMib: 0 });
    dir.seen("a2", { nodeId: "n1", executors: ["builtin/builtin"], epcMib: 0 });
    dir.seen("b1", { nodeId: "n2", executors: ["libos/libos"], epcMib: 512 });
    dir.seen("x", undefined);
    const now = 1_000_000_000;
    const snap = buildSnapshot(
      {
        executors: [
          { id: "a1", lastSeen: now - 1000, task: "t1" },
          { id: "a2", lastSeen: now - 2000 },
          { id: "b1", lastSeen: now - 20 * 60_000 },
          { id: "legacy", lastSeen: now },
        ],
        leased: 1,
      },
      dir,
      4,
      now,
    );
    assert.equal(snap.queueDepth, 4);
    assert.equal(snap.runningTasks, 1);
    const byId = Object.fromEntries(snap.nodes.map((n) => [n.node.nodeId, n]));
    assert.deepEqual(Object.keys(byId).sort(), ["(unnamed)", "n1"]);
    assert.deepEqual(
      byId.n1!.slots.map((s) => [s.executorId, s.runningTaskId]),
      [
        ["a1", "t1"],
        ["a2", ""],
      ],
    );
    assert.equal(dir.nodeOf("b1"), undefined, "forgotten after 10 minutes of silence");
  });
});
