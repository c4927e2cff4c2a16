import { cloisterError, type Logger, silentLogger } from "@cloister/core";
import { isEnded, RecordFormatError, TaskId, type TaskRecord, taskRecords } from "@cloister/model";
import type { frontend } from "@cloister/proto";
import type { RecordState, RecordStore } from "@cloister/storage";
import type { Caller } from "./service.js";
import { toGetTaskResponse } from "./service.js";

/** What a watch needs of the typed store (its backend must wait for changes: RemoteKvStore does). */
export type WatchStore = Pick<RecordStore, "waitForChange">;

/** One long poll on storage; a watch renews it for as long as its client stays. */
const WAIT_MS = 20_000;

/**
 * Cloister's WatchTask: the task's GetTask view now and after every status change, ending after
 * the first view in an ended state. The same rules as GetTask, checked on every record read:
 * `invalid task id` for a task that does not exist, `permission denied` for a non-participant
 * (PlatformAdmin is not exempt). Storage is followed with WaitForChange, so nothing polls.
 * With `endedOnly` only the ended view is sent (each change is still read and checked).
 */
export async function* watchTask(
  store: WatchStore,
  caller: Caller,
  taskId: string,
  signal: AbortSignal,
  log: Logger = silentLogger,
  endedOnly = false,
): AsyncGenerator<frontend.GetTaskResponse> {
  if (!caller.id) throw cloisterError("CALLER_ID_MISSING");
  const uuid = TaskId.tryParse(taskId);
  if (!uuid) throw cloisterError("INVALID_TASK_ID");
  let known: Buffer = Buffer.alloc(0);
  let sent: number | undefined;
  while (!signal.aborted) {
    let state: RecordState<TaskRecord> | undefined;
    try {
      state = await store.waitForChange(taskRecords, uuid, known, WAIT_MS, signal);
    } catch (e) {
      if (signal.aborted) return;
      // A damaged record names no task a client can use, as in GetTask.
      if (e instanceof RecordFormatError) throw cloisterError("INVALID_TASK_ID");
      log.error({ err: e, task: uuid }, "storage operation failed");
      throw cloisterError("INTERNAL");
    }
    if (!state) continue;
    known = state.digest;
    const task = state.record;
    if (!task) throw cloisterError("INVALID_TASK_ID");
    if (!task.participants.has(caller.id)) throw cloisterError("PERMISSION_DENIED");
    const ended = isEnded(task.status);
    if (task.status !== sent && (ended || !endedOnly)) {
      sent = task.status;
      yield toGetTaskResponse(task);
    }
    if (ended) return;
  }
}
