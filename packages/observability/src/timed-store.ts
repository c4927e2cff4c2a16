// Storage latency without touching the stores: a view of a store whose one-shot operations are
// timed into `cloister_storage_operation_seconds`. Long polls (dequeueWait and the like) are left
// out: their time is waiting, not latency.
import type { ServiceMetrics } from "./metrics.js";

export const TIMED_STORE_OPERATIONS = [
  "get",
  "put",
  "delete",
  "keysByPrefix",
  "batch",
  "enqueue",
  "dequeue",
  "enqueueWith",
] as const;

/** `store` with its operations timed; every other member passes through bound to the store. */
export function timedStore<T extends object>(
  store: T,
  metrics: Pick<ServiceMetrics, "timeStorage">,
  operations: readonly string[] = TIMED_STORE_OPERATIONS,
): T {
  const timed = new Set(operations);
  // One wrapper per member, made on first use: the store sits on every task's path, and a fresh
  // closure per access was most of this view's cost.
  const members = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop, _receiver) {
      const known = members.get(prop);
      if (known !== undefined) return known;
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      const fn = value as (...args: unknown[]) => unknown;
      const member =
        typeof prop === "string" && timed.has(prop)
          ? (...args: unknown[]) => metrics.timeStorage(prop, () => Promise.resolve(fn.apply(target, args)))
          : fn.bind(target);
      members.set(prop, member);
      return member;
    },
  });
}
