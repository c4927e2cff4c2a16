import type { BatchOp, RecordBackend } from "@cloister/storage";

/** Test-only in-memory store; the product uses @cloister/storage. */
export class MemoryKv implements RecordBackend {
  readonly map = new Map<string, Buffer>();
  async get(key: Buffer) {
    return this.map.get(key.toString("latin1"));
  }
  async put(key: Buffer, value: Buffer) {
    this.map.set(key.toString("latin1"), Buffer.from(value));
  }
  async delete(key: Buffer) {
    this.map.delete(key.toString("latin1"));
  }
  async keysByPrefix(prefix: Buffer) {
    const p = prefix.toString("latin1");
    return [...this.map.keys()]
      .filter((k) => k.startsWith(p))
      .sort()
      .map((k) => Buffer.from(k, "latin1"));
  }
  async batch(ops: BatchOp[]) {
    for (const op of ops)
      if (op.type === "put") this.map.set(op.key.toString("latin1"), Buffer.from(op.value));
      else this.map.delete(op.key.toString("latin1"));
  }
}
