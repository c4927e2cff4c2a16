import { cloisterError, type Logger, silentLogger } from "@cloister/core";
import { isEnded, TaskId, type TaskRecord, taskRecords } from "@cloister/model";
import type { frontend } from "@cloister/proto";
import type { KeyState } from "@cloister/storage";
import type { Caller } from "./service.js";
import { toGetTaskResponse } from "./service.js";

/** The storage call a watch needs (RemoteKvStore has it). */
export interface WatchStore {
  waitForChange(
    key: Buffer,
    known: Buffer,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<KeyState | undefined>;
}

/** One long poll on storage; a watch renews it for as long as its client stays. */
const WAIT_MS = 20_000;

/**
 * Cloister's WatchTask: the task's GetTask view now and after every status change, ending after
 * the first view in an ended state. The same rules as GetTask, checked on every record read:
 * `invalid task id` for a task that does not exist, `permission denied` for a non-participant
 * (PlatformAdmin is not exempt). Storage is followed with WaitForChange, so nothing polls.
 */
export async function* watchTask(
  store: WatchStore,
  caller: Caller,
  taskId: string,
  signal: AbortSignal,
  log: Logger = silentLogger,
): AsyncGenerator<frontend.GetTaskResponse> {
  if (!caller.id) throw cloisterError("CALLER_ID_MISSING");
  const uuid = TaskId.tryParse(taskId);
  if (!uuid) throw cloisterError("INVALID_TASK_ID");
  const key = taskRecords.key(uuid);
  let known: Buffer = Buffer.alloc(0);
  let sent: number | undefined;
  while (!signal.aborted) {
    let state: KeyState | undefined;
    try {
      state = await store.waitForChange(key, known, WAIT_MS, signal);
    } catch (e) {
      if (signal.aborted) return;
      log.error({ err: e, task: uuid }, "storage operation failed");
      throw cloisterError("INTERNAL");
    }
    if (!state) continue;
    known = state.digest;
    let task: TaskRecord | undefined;
    try {
      task = state.value && taskRecords.decode(state.value);
    } catch {
      task = undefined;
    }
    if (!task) throw cloisterError("INVALID_TASK_ID");
    if (!task.participants.has(caller.id)) throw cloisterError("PERMISSION_DENIED");
    if (task.status !== sent) {
      sent = task.status;
      yield toGetTaskResponse(task);
    }
    if (isEnded(task.status)) return;
  }
}
