import type { FunctionArguments, TaskRuntime } from "@cloister/runtime";
import type { Schema } from "./args.js";
import type { Offload } from "./offload.js";

/** What a builtin gets besides its arguments. */
export interface BuiltinContext {
  /** Plaintext inputs and outputs by declared data name. */
  runtime: TaskRuntime;
  /** Runs a CPU-heavy kernel in a worker thread (honours cancellation and the deadline). */
  offload: Offload;
  signal: AbortSignal;
}

/**
 * What a builtin expects, so users can discover it (`cloister function builtins`): the argument
 * schema it parses, and the data names it reads and writes (a function registered for it must
 * declare them).
 */
export interface BuiltinDescriptor {
  readonly summary: string;
  readonly arguments: Schema;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

/** One builtin function, selected by its exact registered name. */
export interface Builtin {
  readonly name: string;
  readonly descriptor: BuiltinDescriptor;
  run(args: FunctionArguments, ctx: BuiltinContext): Promise<string>;
}

/** A worker's byte result as a Buffer without copying. */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** A descriptor as plain data (argument types by name), e.g. for JSON output. */
export function describeBuiltin(b: Builtin) {
  return {
    name: b.name,
    summary: b.descriptor.summary,
    arguments: Object.entries(b.descriptor.arguments).map(([name, f]) => ({
      name,
      type: f.type,
      optional: f.optional,
    })),
    inputs: [...b.descriptor.inputs],
    outputs: [...b.descriptor.outputs],
  };
}
