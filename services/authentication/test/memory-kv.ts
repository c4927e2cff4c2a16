import type { Kv } from "../src/kv.js";

/** Test-only in-memory Kv; the product uses @cloister/storage. */
export class MemoryKv implements Kv {
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
}
