// What `cloister status` shows of the task path: execution nodes (their slots, executors and
// when each slot was last heard from) and the staged queue's depth. The scheduler keeps a
// snapshot in storage every few seconds; management reads it there for callers, so status needs
// no new connection between services.
import type { Logger } from "@cloister/core";
import { type SchedulerStatusSnapshot, schedulerStatusRecords } from "@cloister/model";
import type { extensions } from "@cloister/proto";
import { handoffQueues, type KvStore, type RecordStore } from "@cloister/storage";

type NodeInfo = extensions.ExecutionNodeInfo;

/** Slots silent for this long are left out (their node is gone or was restarted with new ids). */
const FORGET_AFTER_MS = 10 * 60_000;
const MAX_NODES = 1000;

/** Which node each executor id (slot) belongs to, from the node info slots send with every call. */
export class NodeDirectory {
  private readonly slots = new Map<string, NodeInfo>();

  /** Records a slot's node; ignores calls from nodes that send none, and bounds what it keeps. */
  seen(executorId: string, node: NodeInfo | undefined): void {
    if (!node?.nodeId || executorId.length > 128 || node.nodeId.length > 256) return;
    if (!this.slots.has(executorId) && this.slots.size >= MAX_NODES * 64) return;
    this.slots.set(executorId, {
      nodeId: node.nodeId,
      executors: node.executors.slice(0, 32).map((e) => e.slice(0, 64)),
      epcMib: node.epcMib,
    });
  }

  nodeOf(executorId: string): NodeInfo | undefined {
    return this.slots.get(executorId);
  }

  forget(executorId: string): void {
    this.slots.delete(executorId);
  }
}

/**
 * Staged tasks waiting in the durable queue: its element keys. (The queue's counters are kept in
 * clear beside sealed elements, so they cannot be read through the sealed store; the element
 * keys can. Slot numbers never take the counters' names, see packages/storage.)
 */
export async function stagedQueueDepth(store: Pick<KvStore, "keysByPrefix">): Promise<number> {
  const prefix = Buffer.from(`queue-${handoffQueues.staged}-`);
  const counters = new Set(["head", "tail"]);
  const keys = await store.keysByPrefix(prefix);
  return keys.filter(
    (k) => k.length === prefix.length + 4 && !counters.has(k.subarray(prefix.length).toString("latin1")),
  ).length;
}

export function buildSnapshot(
  view: { executors: Array<{ id: string; lastSeen: number; task?: string }>; leased: number },
  directory: NodeDirectory,
  queueDepth: number,
  now = Date.now(),
): SchedulerStatusSnapshot {
  const nodes = new Map<string, SchedulerStatusSnapshot["nodes"][number]>();
  for (const e of view.executors) {
    if (now - e.lastSeen > FORGET_AFTER_MS) {
      directory.forget(e.id);
      continue;
    }
    const info = directory.nodeOf(e.id) ?? { nodeId: "(unnamed)", executors: [], epcMib: 0 };
    let entry = nodes.get(info.nodeId);
    if (!entry) {
      if (nodes.size >= MAX_NODES) continue;
      entry = { node: info, slots: [] };
      nodes.set(info.nodeId, entry);
    }
    entry.slots.push({ executorId: e.id, runningTaskId: e.task ?? "", lastSeen: e.lastSeen });
  }
  return { at: now, queueDepth, runningTasks: view.leased, nodes: [...nodes.values()] };
}

/**
 * Writes the snapshot every `intervalMs` and feeds the queue-depth gauge; a failed write is
 * logged and retried at the next tick.
 */
export function startStatusSnapshots(o: {
  store: Pick<KvStore, "keysByPrefix">;
  records: Pick<RecordStore, "put">;
  view: () => Parameters<typeof buildSnapshot>[0];
  directory: NodeDirectory;
  log: Logger;
  onQueueDepth?: (depth: number, running: number) => void;
  intervalMs?: number;
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let failing = false;
  const tick = async () => {
    try {
      const depth = await stagedQueueDepth(o.store);
      const snapshot = buildSnapshot(o.view(), o.directory, depth);
      o.onQueueDepth?.(depth, snapshot.runningTasks);
      await o.records.put(schedulerStatusRecords, "scheduler", snapshot);
      failing = false;
    } catch (e) {
      if (!failing) o.log.warn({ err: e }, "status snapshot not written; retrying");
      failing = true;
    }
  };
  const timer = setInterval(() => {
    running ??= tick().finally(() => {
      running = undefined;
    });
  }, o.intervalMs ?? 3000);
  timer.unref();
  running = tick().finally(() => {
    running = undefined;
  });
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
