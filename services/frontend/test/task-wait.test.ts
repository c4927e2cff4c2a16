import assert from "node:assert/strict";
import { test } from "node:test";
import { common, type extensions, type frontend } from "@cloister/proto";
import { GET_TASK_WAIT_METADATA } from "@cloister/rpc";
import * as grpc from "@grpc/grpc-js";
import { heldView, WaitSlots, waitBudgetMs } from "../src/task-wait.js";

const view = (status: common.TaskStatus, tag = "") =>
  ({ status, taskId: tag }) as unknown as frontend.GetTaskResponse;
const asking = (value?: string) => {
  const m = new grpc.Metadata();
  if (value !== undefined) m.set(GET_TASK_WAIT_METADATA, value);
  return m;
};

test("the wait is the configured one, lowered by the caller's metadata and by the deadline", () => {
  assert.equal(waitBudgetMs(asking(), 1000), 1000);
  assert.equal(waitBudgetMs(asking("250"), 1000), 250);
  assert.equal(waitBudgetMs(asking("0"), 1000), 0);
  assert.equal(waitBudgetMs(asking("5000"), 1000), 1000, "metadata cannot raise it");
  for (const junk of ["-5", "1e3", "abc", "12.5", "9999999999"])
    assert.equal(waitBudgetMs(asking(junk), 1000), 1000, junk);
  assert.equal(waitBudgetMs(asking(), 1000, 600), 500, "ends before the call's deadline");
  assert.equal(waitBudgetMs(asking(), 1000, 50), 0);
  assert.equal(waitBudgetMs(asking(), 0), 0);
});

test("a user holds at most perUser waits; a release frees one, twice frees one", () => {
  const slots = new WaitSlots(2);
  const a = slots.tryTake("u")!;
  const b = slots.tryTake("u")!;
  assert.equal(slots.tryTake("u"), undefined);
  assert.ok(slots.tryTake("other"));
  a();
  a();
  const c = slots.tryTake("u");
  assert.ok(c);
  assert.equal(slots.tryTake("u"), undefined);
  b();
  c!();
});

/** A watch that yields `views` (one per tick) and then ends, or stays open with `open`. */
function watchOf(views: frontend.GetTaskResponse[], open = false) {
  const seen = { cancelled: false, started: 0 };
  const watch = (signal: AbortSignal) => {
    seen.started++;
    return (async function* () {
      for (const task of views) {
        await new Promise((r) => setImmediate(r));
        yield { task } as extensions.WatchTaskResponse;
      }
      if (open)
        await new Promise<void>((_, reject) =>
          signal.addEventListener("abort", () => {
            seen.cancelled = true;
            reject(new Error("cancelled"));
          }),
        );
    })();
  };
  return { watch, seen };
}

test("a task not in flight, or no time to wait, is answered with the first view", async () => {
  for (const status of [common.TaskStatus.Created, common.TaskStatus.Approved, common.TaskStatus.Finished]) {
    const { watch, seen } = watchOf([]);
    const first = view(status);
    assert.equal(await heldView({ first, waitMs: 1000, watch }), first);
    assert.equal(seen.started, 0);
  }
  const { watch, seen } = watchOf([]);
  const first = view(common.TaskStatus.Running);
  assert.equal(await heldView({ first, waitMs: 0, watch }), first);
  assert.equal(seen.started, 0);
});

test("an in-flight task is answered with its ended view, read to the stream's end", async () => {
  const { watch } = watchOf([
    view(common.TaskStatus.Running, "r"),
    view(common.TaskStatus.Finished, "done"),
    view(common.TaskStatus.Running, "after the end: ignored"),
  ]);
  const got = await heldView({ first: view(common.TaskStatus.Staged), waitMs: 10_000, watch });
  assert.equal(got.status, common.TaskStatus.Finished);
  assert.equal(got.taskId, "done");
});

test("when the wait runs out the latest view is the answer and the watch is cancelled", async () => {
  const { watch, seen } = watchOf([view(common.TaskStatus.Running, "latest")], true);
  const got = await heldView({ first: view(common.TaskStatus.Staged), waitMs: 50, watch });
  assert.equal(got.taskId, "latest");
  assert.ok(seen.cancelled);
});

test("the client going away ends the wait; a failing watch is not the call's failure", async () => {
  const gone = new AbortController();
  const { watch, seen } = watchOf([], true);
  const first = view(common.TaskStatus.Running, "first");
  const pending = heldView({ first, waitMs: 60_000, watch, signal: gone.signal });
  setTimeout(() => gone.abort(), 20);
  assert.equal(await pending, first);
  assert.ok(seen.cancelled);
  const failing = () =>
    (async function* (): AsyncGenerator<extensions.WatchTaskResponse> {
      yield* [];
      throw new Error("management went away");
    })();
  assert.equal(await heldView({ first, waitMs: 60_000, watch: failing }), first);
});
