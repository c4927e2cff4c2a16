import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hasKind } from "@cloister/core";
import { common, type extensions } from "@cloister/proto";
import { StreamSlots, taskLogChunks } from "../src/task-log-stream.js";

async function collect(it: AsyncIterable<extensions.TaskLogChunk>): Promise<extensions.TaskLogChunk[]> {
  const out: extensions.TaskLogChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const { Running, Finished } = common.TaskStatus;

/** A log that grows by one line per read until `total`, then the task is Finished. */
function growing(total: number) {
  let written = 0;
  let reads = 0;
  const read = async (offset: number): Promise<extensions.ReadTaskLogResponse> => {
    reads++;
    const status = written >= total ? Finished : Running;
    const lines = Array.from({ length: written - offset }, (_, i) => `line ${offset + i}`);
    if (written < total) written++;
    return { lines, nextOffset: offset + lines.length, truncated: false, kept: true, status };
  };
  return { read, reads: () => reads };
}

describe("StreamTaskLog", () => {
  test("follow sends every line once and ends after the task is terminal", async () => {
    const log = growing(3);
    const chunks = await collect(taskLogChunks(log.read, { follow: true, pollMs: 1 }));
    assert.deepEqual(
      chunks.flatMap((c) => c.lines),
      ["line 0", "line 1", "line 2"],
    );
    assert.equal(chunks.at(-1)!.status, Finished);
  });

  test("without follow: what is there now, then the end", async () => {
    const log = growing(5);
    const chunks = await collect(taskLogChunks(log.read, { follow: false, pollMs: 1 }));
    assert.equal(chunks.length, 1, "one chunk, even when empty");
    assert.ok(log.reads() <= 2);
  });

  test("a log that is not kept answers once; a cancelled stream stops reading", async () => {
    const chunks = await collect(
      taskLogChunks(
        async () => ({ lines: [], nextOffset: 0, truncated: false, kept: false, status: Running }),
        {
          follow: true,
        },
      ),
    );
    assert.deepEqual(chunks, [{ lines: [], truncated: false, kept: false, status: Running }]);
    const log = growing(1000);
    const gone = new AbortController();
    for await (const _ of taskLogChunks(log.read, { follow: true, pollMs: 1 }, gone.signal))
      if (log.reads() >= 3) gone.abort();
    assert.equal(log.reads(), 3);
  });

  test("followed streams per user are bounded", () => {
    const slots = new StreamSlots(2);
    const a = slots.take("u");
    slots.take("u");
    assert.throws(
      () => slots.take("u"),
      (e) => hasKind(e, "TASK_LOG_STREAMS_EXHAUSTED"),
    );
    slots.take("other");
    a();
    a();
    slots.take("u");
  });
});
