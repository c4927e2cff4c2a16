import assert from "node:assert/strict";
import { test } from "node:test";
import { ServiceMetrics, timedStore } from "../src/index.js";

class Store {
  #values = new Map<string, string>();
  async get(k: string) {
    return this.#values.get(k);
  }
  async put(k: string, v: string) {
    this.#values.set(k, v);
  }
  async dequeueWait() {
    return "waited";
  }
  size() {
    return this.#values.size;
  }
}

test("one-shot store operations are timed by operation; long polls and the rest pass through", async () => {
  const metrics = new ServiceMetrics("storage");
  const store = timedStore(new Store(), metrics);
  await store.put("a", "1");
  assert.equal(await store.get("a"), "1");
  await store.get("b");
  assert.equal(await store.dequeueWait(), "waited");
  assert.equal(store.size(), 1, "private state still reachable through the view");
  const text = (await metrics.exposition()).body;
  const count = (op: string) =>
    Number(
      new RegExp(`cloister_storage_operation_seconds_count\\{[^}]*operation="${op}"[^}]*\\} (\\d+)`).exec(
        text,
      )?.[1] ?? 0,
    );
  assert.equal(count("get"), 2);
  assert.equal(count("put"), 1);
  assert.equal(count("dequeueWait"), 0);
});
