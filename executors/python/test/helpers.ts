import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Executor } from "@cloister/runtime";
import { DEFAULT_LIMITS, type FunctionArguments, MemoryTaskRuntime } from "@cloister/runtime";

/** The shared Teaclave test vectors, found from the repository root. */
export function fixture(...parts: string[]): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "scripts", "build.mjs"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("repository root not found");
    dir = up;
  }
  return join(dir, "fixtures", "teaclave", ...parts);
}

/**
 * The execution node's in-memory runtime; an input given as an Error fails when read (an input
 * the node could not open).
 */
export class MemoryRuntime extends MemoryTaskRuntime {
  constructor(
    private readonly failing: Record<string, Buffer | string | Error> = {},
    outputList: string[] = [],
  ) {
    super(
      Object.fromEntries(
        Object.entries(failing).filter((e): e is [string, Buffer | string] => !(e[1] instanceof Error)),
      ),
      outputList,
    );
  }
  override inputNames(): string[] {
    return Object.keys(this.failing);
  }
  override async readInput(name: string): Promise<Buffer> {
    const v = this.failing[name];
    if (v instanceof Error) throw v;
    return super.readInput(name);
  }
}

export interface CallOptions {
  args?: FunctionArguments;
  argv?: string[];
  inputs?: Record<string, Buffer | string | Error>;
  outputs?: string[];
  executor?: string;
  executorType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** The function the task runs (workers are kept per function). */
  functionId?: string;
}

export async function call(executor: Executor, source: string, opts: CallOptions = {}) {
  const runtime = new MemoryRuntime(opts.inputs, opts.outputs);
  const value = await executor.execute({
    taskId: "00000000-0000-0000-0000-000000000000",
    ...(opts.functionId ? { functionId: opts.functionId } : {}),
    functionName: "test",
    payload: Buffer.from(source),
    executorType: opts.executorType ?? "python",
    executor: opts.executor ?? "mesapy",
    arguments: opts.args ?? {},
    ...(opts.argv ? { argv: opts.argv } : {}),
    runtime,
    limits: { ...DEFAULT_LIMITS, timeoutMs: opts.timeoutMs ?? 30_000 },
    signal: opts.signal ?? new AbortController().signal,
  });
  return { value, runtime };
}
