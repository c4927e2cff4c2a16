import type { ManagementStore } from "../src/store.js";

/** Test-only in-memory store; the product uses @cloister/storage. Yields between steps like real I/O. */
export class MemoryStore implements ManagementStore {
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
  async batch(ops: Array<{ type: "put"; key: Buffer; value: Buffer }>) {
    await this.tick();
    for (const op of ops) this.map.set(op.key.toString("latin1"), Buffer.from(op.value));
  }
  async enqueue(queue: Buffer, value: Buffer) {
    await this.tick();
    const q = this.queues.get(queue.toString("latin1")) ?? [];
    q.push(Buffer.from(value));
    this.queues.set(queue.toString("latin1"), q);
  }
  async enqueueWith(queue: Buffer, value: Buffer, ops: Array<{ type: "put"; key: Buffer; value: Buffer }>) {
    await this.tick();
    for (const op of ops) this.map.set(op.key.toString("latin1"), Buffer.from(op.value));
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
