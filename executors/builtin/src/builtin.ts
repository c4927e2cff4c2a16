import type { FunctionArguments, TaskRuntime } from "@cloister/runtime";
import type { Offload } from "./offload.js";

/** What a builtin gets besides its arguments. */
export interface BuiltinContext {
  /** Plaintext inputs and outputs by declared data name. */
  runtime: TaskRuntime;
  /** Runs a CPU-heavy kernel in a worker thread (honours cancellation and the deadline). */
  offload: Offload;
  signal: AbortSignal;
}

/** One builtin function, selected by its exact registered name. */
export interface Builtin {
  readonly name: string;
  run(args: FunctionArguments, ctx: BuiltinContext): Promise<string>;
}

/** A worker's byte result as a Buffer without copying. */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}
