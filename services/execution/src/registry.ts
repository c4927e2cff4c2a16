import { type Executor, TaskFailure } from "@cloister/runtime";

const TYPE_NAMES: Record<string, string> = { builtin: "Builtin", python: "Python", wamr: "WAMicroRuntime" };
const EXECUTOR_NAMES: Record<string, string> = {
  builtin: "Builtin",
  mesapy: "MesaPy",
  wamr: "WAMicroRuntime",
};
const display = (names: Record<string, string>, s: string) =>
  names[s] ?? s.charAt(0).toUpperCase() + s.slice(1);

/** Picks the executor for a (function executor type, task executor) pair. */
export class ExecutorRegistry {
  private readonly byPair = new Map<string, Executor>();

  constructor(executors: Executor[]) {
    for (const executor of executors) {
      for (const [type, name] of executor.accepts) this.byPair.set(`${type}\u0000${name}`, executor);
    }
  }

  select(executorType: string, executor: string): Executor {
    const found = this.byPair.get(`${executorType}\u0000${executor}`);
    if (!found) {
      throw new TaskFailure(
        `function not available: (${display(TYPE_NAMES, executorType)}, ${display(EXECUTOR_NAMES, executor)})`,
      );
    }
    return found;
  }

  pairs(): string[] {
    return [...this.byPair.keys()].map((k) => k.replace("\u0000", "/"));
  }

  async close(): Promise<void> {
    await Promise.all([...new Set(this.byPair.values())].map((e) => e.close?.()));
  }
}
