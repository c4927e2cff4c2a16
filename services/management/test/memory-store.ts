import {
  FunctionId,
  functionRecords,
  InputId,
  inputRecords,
  OutputId,
  outputRecords,
  TaskId,
  taskRecords,
  usageRecords,
  userFunctionsRecords,
} from "@cloister/model";
import type { BatchOp, RecordBackend, StagingBackend } from "@cloister/storage";
import { handoffQueues } from "@cloister/storage";

/** Test-only in-memory store; the product uses @cloister/storage. Yields between steps like real I/O. */
export class MemoryStore implements RecordBackend, StagingBackend {
  readonly map = new Map<string, Buffer>();
  readonly queues = new Map<string, Buffer[]>();
  failing = false;

  private async tick() {
    await new Promise((r) => setImmediate(r));
    if (this.failing) throw new Error("disk on fire");
  }
  async get(key: Buffer) {
    await this.tick();
    return this.map.get(key.toString("latin1"));
  }
  async put(key: Buffer, value: Buffer) {
    await this.tick();
    this.map.set(key.toString("latin1"), Buffer.from(value));
  }
  async delete(key: Buffer) {
    await this.tick();
    this.map.delete(key.toString("latin1"));
  }
  async keysByPrefix(prefix: Buffer) {
    await this.tick();
    const p = prefix.toString("latin1");
    return [...this.map.keys()]
      .filter((k) => k.startsWith(p))
      .sort()
      .map((k) => Buffer.from(k, "latin1"));
  }
  private apply(ops: BatchOp[]) {
    for (const op of ops)
      if (op.type === "put") this.map.set(op.key.toString("latin1"), Buffer.from(op.value));
      else this.map.delete(op.key.toString("latin1"));
  }
  async batch(ops: BatchOp[]) {
    await this.tick();
    this.apply(ops);
  }
  async enqueue(queue: Buffer, value: Buffer) {
    await this.tick();
    const q = this.queues.get(queue.toString("latin1")) ?? [];
    q.push(Buffer.from(value));
    this.queues.set(queue.toString("latin1"), q);
  }
  async enqueueWith(queue: Buffer, value: Buffer, ops: BatchOp[]) {
    await this.tick();
    this.apply(ops);
    const q = this.queues.get(queue.toString("latin1")) ?? [];
    q.push(Buffer.from(value));
    this.queues.set(queue.toString("latin1"), q);
  }
  queue(name: string): string[] {
    return (this.queues.get(name) ?? []).map((b) => b.toString("utf8"));
  }
  text(key: string): string | undefined {
    return this.map.get(key)?.toString("utf8");
  }
}

/** Storage keys of the records tests look at, from the record types (test shorthand). */
export const keys = {
  function: (uuid: string) => functionRecords.key(FunctionId.fromUuid(uuid)).toString(),
  usage: (uuid: string) => usageRecords.key(FunctionId.fromUuid(uuid)).toString(),
  input: (uuid: string) => inputRecords.key(InputId.fromUuid(uuid)).toString(),
  output: (uuid: string) => outputRecords.key(OutputId.fromUuid(uuid)).toString(),
  task: (uuid: string) => taskRecords.key(TaskId.fromUuid(uuid)).toString(),
  user: (userId: string) => userFunctionsRecords.key(userId).toString(),
};
export const STAGED_TASK_QUEUE = handoffQueues.staged;
export const CANCEL_QUEUE = handoffQueues.cancel;
