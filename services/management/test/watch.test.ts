// WatchTask in management: GetTask's view at each status change, GetTask's rules on every read,
// the end at an ended state, and a prompt, quiet stop when the client goes away.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CloisterError, Status } from "@cloister/core";
import {
  finishWithResult,
  markRunning,
  parseTask,
  serializeTask,
  TaskId,
  TaskStatus,
  taskRecords,
} from "@cloister/model";
import { LevelDbStore, RecordStore } from "@cloister/storage";
import { ManagementService } from "../src/index.js";
import { type WatchStore, watchTask } from "../src/watch.js";
import { admin, alice, fnReq, mallory, NO_SUCH } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), "cloister-watch-"));
  dirs.push(dir);
  const store = await LevelDbStore.open(join(dir, "db"));
  const svc = new ManagementService({ store });
  const watchStore: WatchStore = new RecordStore(store);
  const { functionId } = await svc.registerFunction(alice, fnReq());
  const { taskId } = await svc.createTask(alice, {
    functionId,
    functionArguments: '{"message":"hi"}',
    executor: "builtin",
    inputsOwnership: [],
    outputsOwnership: [],
  });
  // What the scheduler writes: Running, then Finished.
  const key = taskRecords.key(TaskId.parse(taskId));
  const step = async (change: (t: ReturnType<typeof parseTask>) => ReturnType<typeof parseTask>) => {
    const t = parseTask((await store.get(key))!.toString());
    await store.put(key, Buffer.from(serializeTask(change(t))));
  };
  /** The task's life with a pause before each change: invoked (Staged), Running, Finished "hi". */
  const runToFinished = async () => {
    await new Promise((r) => setTimeout(r, 50));
    await svc.invokeTask(alice, { taskId });
    await new Promise((r) => setTimeout(r, 50));
    await step(markRunning);
    await new Promise((r) => setTimeout(r, 50));
    await step(
      (task) =>
        finishWithResult(task, { kind: "Ok", returnValue: Buffer.from("hi"), tagsMap: new Map(), log: [] })
          .task,
    );
  };
  return { store, svc, watchStore, taskId, runToFinished };
}

const code = (e: unknown) => (e instanceof CloisterError ? e.code : undefined);

test("a participant sees each status once, up to Finished with its result, then the stream ends", async (t) => {
  const { store, watchStore, taskId, runToFinished } = await setup();
  t.after(() => store.close());
  const seen: number[] = [];
  const watching = (async () => {
    for await (const view of watchTask(watchStore, alice, taskId, new AbortController().signal)) {
      seen.push(view.status);
      assert.equal(view.taskId, taskId);
      if (view.status === TaskStatus.Finished) assert.equal(view.result?.Ok?.returnValue.toString(), "hi");
    }
  })();
  await runToFinished();
  await watching;
  assert.deepEqual(seen, [TaskStatus.Created, TaskStatus.Staged, TaskStatus.Running, TaskStatus.Finished]);
});

test("a task that has already ended gives one view and ends", async (t) => {
  const { store, svc, watchStore, taskId } = await setup();
  t.after(() => store.close());
  await svc.cancelTask(alice, { taskId });
  const views = [];
  for await (const view of watchTask(watchStore, alice, taskId, new AbortController().signal))
    views.push(view);
  assert.deepEqual(
    views.map((v) => v.status),
    [TaskStatus.Canceled],
  );
});

test("authorised like GetTask: a non-participant (even PlatformAdmin) gets PERMISSION_DENIED, a bad id INVALID_ARGUMENT", async (t) => {
  const { store, watchStore, taskId } = await setup();
  t.after(() => store.close());
  const first = (caller: typeof alice, id: string) =>
    watchTask(watchStore, caller, id, new AbortController().signal).next();
  await assert.rejects(first(mallory, taskId), (e) => code(e) === Status.PERMISSION_DENIED);
  await assert.rejects(first(admin, taskId), (e) => code(e) === Status.PERMISSION_DENIED);
  await assert.rejects(first(alice, `task-${NO_SUCH}`), (e) => code(e) === Status.INVALID_ARGUMENT);
  await assert.rejects(first(alice, "function-nope"), (e) => code(e) === Status.INVALID_ARGUMENT);
  await assert.rejects(first({ id: "", role: "" }, taskId), (e) => code(e) === Status.UNKNOWN);
});

test("a client that goes away ends the watch at once, without an error", async (t) => {
  const { store, watchStore, taskId } = await setup();
  t.after(() => store.close());
  const gone = new AbortController();
  const seen: number[] = [];
  const started = Date.now();
  const watching = (async () => {
    for await (const view of watchTask(watchStore, alice, taskId, gone.signal)) seen.push(view.status);
  })();
  await new Promise((r) => setTimeout(r, 100));
  gone.abort();
  await watching;
  assert.deepEqual(seen, [TaskStatus.Created]);
  assert.ok(Date.now() - started < 5000, "not held until the long poll's end");
});

test("with endedOnly only the ended view is sent", async (t) => {
  const { store, watchStore, taskId, runToFinished } = await setup();
  t.after(() => store.close());
  const seen: number[] = [];
  const watching = (async () => {
    for await (const view of watchTask(
      watchStore,
      alice,
      taskId,
      new AbortController().signal,
      undefined,
      true,
    ))
      seen.push(view.status);
  })();
  await runToFinished();
  await watching;
  assert.deepEqual(seen, [TaskStatus.Finished]);
});
