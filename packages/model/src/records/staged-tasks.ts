import { isUuid } from "@cloister/core";
import {
  readStagedTaskFields,
  stagedTaskFromJsonValue,
  stagedTaskText,
  stagedTaskToJsonValue,
} from "../staged-task.js";
import { type CodecVersion, directCodec } from "./codec.js";
import { TaskId } from "./ids.js";

/**
 * Staged tasks as they travel from management to the execution node (queue element, claim,
 * PullTask answer). They have no key of their own: the hand-off (@cloister/storage's
 * `handoff.ts`) decides where they live.
 */
export const stagedTasks = {
  ...directCodec("staged task", {
    toJson: stagedTaskToJsonValue,
    fromJson: stagedTaskFromJsonValue,
    text: stagedTaskText,
    read: readStagedTaskFields,
  }),
  /**
   * The task a staged task runs, without decoding its payload: a version 2 element starts with
   * `{"v":2,"task_id":"<uuid>"`; anything else is decoded in full.
   */
  taskIdOf(raw: Buffer): TaskId {
    const head = raw.subarray(0, V2_HEAD.length + 38).toString("latin1");
    if (head.startsWith(V2_HEAD) && head[V2_HEAD.length + 37] === '"') {
      const uuid = head.slice(V2_HEAD.length + 1, V2_HEAD.length + 37);
      if (isUuid(uuid)) return TaskId.fromUuid(uuid);
    }
    return stagedTasks.decode(raw).taskUuid;
  },
  /** The element in `version` (the legacy PullTask answer is version 1), re-encoded only if needed. */
  inVersion(raw: Buffer, version: CodecVersion): Buffer {
    const isV2 = raw.subarray(0, V2_PREFIX.length).toString("latin1") === V2_PREFIX;
    if (isV2 === (version === 2)) return raw;
    return stagedTasks.encode(stagedTasks.decode(raw), version);
  },
};

const V2_PREFIX = '{"v":2,';
const V2_HEAD = '{"v":2,"task_id":';
