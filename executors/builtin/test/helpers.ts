import { readFileSync } from "node:fs";
import {
  DEFAULT_LIMITS,
  type ExecutionLimits,
  type FunctionArguments,
  MemoryTaskRuntime,
  TaskFailure,
} from "@cloister/runtime";
import { BuiltinExecutor } from "../src/index.js";

/** The Teaclave test vectors, kept in the repository under `fixtures/teaclave`. */
export const FIXTURES = new URL("../../../../fixtures/teaclave/functions/", import.meta.url).pathname;

export const fixture = (path: string): Buffer => readFileSync(FIXTURES + path);
export const fixtureText = (path: string): string => fixture(path).toString("utf8");

/** Plaintext inputs/outputs in memory, as an execution node hands them to an executor. */
export class MemoryRuntime extends MemoryTaskRuntime {
  output(name: string): string {
    return this.outputs.get(name)?.toString("utf8") ?? "";
  }
}

export const executor = new BuiltinExecutor();

export interface RunOptions {
  inputs?: Record<string, Buffer | string>;
  outputs?: string[];
  signal?: AbortSignal;
  limits?: Partial<ExecutionLimits>;
}

export async function run(
  functionName: string,
  args: FunctionArguments,
  opts: RunOptions = {},
): Promise<{ result: string; runtime: MemoryRuntime }> {
  const runtime = new MemoryRuntime(opts.inputs, opts.outputs);
  const result = await executor.execute({
    taskId: "00000000-0000-0000-0000-000000000000",
    functionName,
    payload: Buffer.alloc(0),
    executorType: "builtin",
    executor: "builtin",
    arguments: args,
    runtime,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    signal: opts.signal ?? new AbortController().signal,
  });
  return { result, runtime };
}

/** Asserts that a run fails the task with exactly `reason`. */
export async function failsWith(
  reason: string,
  functionName: string,
  args: FunctionArguments,
  opts: RunOptions = {},
) {
  const { rejects } = await import("node:assert/strict");
  await rejects(run(functionName, args, opts), (e: unknown) => {
    if (!(e instanceof TaskFailure)) throw new Error(`expected TaskFailure, got ${String(e)}`);
    if (e.message !== reason)
      throw new Error(`expected reason ${JSON.stringify(reason)}, got ${JSON.stringify(e.message)}`);
    return true;
  });
}
