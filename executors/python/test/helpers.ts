import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_LIMITS, type FunctionArguments, TaskFailure, type TaskRuntime } from "@cloister/runtime";
import type { PythonExecutor } from "../src/index.js";

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

/** A task runtime holding plaintext in memory, as the execution node gives an executor. */
export class MemoryRuntime implements TaskRuntime {
  readonly outputs = new Map<string, Buffer>();
  readonly logs: string[] = [];
  constructor(
    private readonly inputs: Record<string, Buffer | string | Error> = {},
    private readonly outputList: string[] = [],
  ) {}
  inputNames(): string[] {
    return Object.keys(this.inputs);
  }
  outputNames(): string[] {
    return this.outputList;
  }
  async readInput(name: string): Promise<Buffer> {
    const v = this.inputs[name];
    if (v instanceof Error) throw v;
    if (v === undefined) throw new TaskFailure("Invalid input file identifier.");
    return Buffer.from(v);
  }
  async writeOutput(name: string, data: Buffer): Promise<void> {
    if (!this.outputList.includes(name)) throw new TaskFailure("Invalid output file identifier");
    this.outputs.set(name, Buffer.from(data));
  }
  log(line: string): void {
    this.logs.push(line);
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
}

export async function call(executor: PythonExecutor, source: string, opts: CallOptions = {}) {
  const runtime = new MemoryRuntime(opts.inputs, opts.outputs);
  const value = await executor.execute({
    taskId: "00000000-0000-0000-0000-000000000000",
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
