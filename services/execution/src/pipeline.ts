import type { Logger } from "@cloister/core";
import type { FileAgent } from "@cloister/file-agent";
import {
  argumentsToArgv,
  type FileCrypto,
  JsonNumber,
  type StagedTask,
  type TaskResult,
} from "@cloister/model";
import {
  type ExecutionLimits,
  type ExecutionRequest,
  type Executor,
  type FunctionArguments,
  type JsonValue,
  MemoryTaskRuntime,
  TaskFailure,
} from "@cloister/runtime";
import type { ExecutorRegistry } from "./registry.js";

/** Turns a task file's ciphertext into plaintext and back (implemented with @cloister/crypto). */
export interface FileCodec {
  /** Verify against `cmac` and decrypt; throws TaskFailure with the spec's reason on a bad file. */
  open(ciphertext: Buffer, crypto: FileCrypto, cmac: Buffer, url: string): Promise<Buffer>;
  /** Encrypt an output with its registered crypto; returns the file and its 16-byte tag. */
  seal(plaintext: Buffer, crypto: FileCrypto, url: string): Promise<{ data: Buffer; tag: Buffer }>;
}

export interface PipelineDeps {
  agent: FileAgent;
  codec: FileCodec;
  executors: ExecutorRegistry;
  limits: ExecutionLimits;
  log: Logger;
  /** Keeps an executor's run evidence with the task (before its result is reported). */
  recordEvidence?(taskUuid: string, evidence: Buffer): Promise<void>;
}

/** The model keeps arguments as an ordered JSON map; executors get a plain object in the same key order. */
function toPlainArguments(args: StagedTask["functionArguments"]): FunctionArguments {
  const convert = (v: unknown): JsonValue => {
    if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, convert(x)]));
    if (Array.isArray(v)) return v.map(convert);
    if (v instanceof JsonNumber) return v.value;
    return v as JsonValue;
  };
  return convert(args) as FunctionArguments;
}

/**
 * Run one staged task end to end on this node: fetch and open inputs in
 * memory, run the function, seal and deliver outputs. Any failure becomes an Err result whose
 * reason is the failure's message; only cancellation escapes as an AbortError.
 */
export async function runStagedTask(
  task: StagedTask,
  deps: PipelineDeps,
  signal: AbortSignal,
): Promise<TaskResult> {
  const args = toPlainArguments(task.functionArguments);
  const saveLog = args.save_log === "true";
  try {
    const executor = deps.executors.select(task.executorType, task.executor);
    const inputs = new Map<string, Buffer>();
    // (Most tasks have no files: no empty Promise.all and its turn of the event loop for them.)
    if (task.inputData.size > 0)
      await Promise.all(
        [...task.inputData].map(async ([name, input]) => {
          const ciphertext = await deps.agent.download(input.url, { owners: input.owners, signal });
          inputs.set(name, await deps.codec.open(ciphertext, input.crypto, input.cmac, input.url));
        }),
      );
    const runtime = new MemoryTaskRuntime(inputs, [...task.outputData.keys()]);
    let evidence: Buffer | undefined;
    const execution = executeLegacyAware(executor, {
      taskId: task.taskUuid,
      functionId: task.functionUuid,
      functionName: task.functionName,
      payload: task.functionPayload,
      executorType: task.executorType,
      executor: task.executor,
      arguments: args,
      argv: argumentsToArgv(task.functionArguments),
      runtime,
      limits: deps.limits,
      signal,
      recordEvidence: (e) => {
        evidence = e;
      },
    });
    // Evidence is kept whether the function succeeded or failed: it shows what ran.
    const returnValue = await execution.finally(async () => {
      if (evidence && deps.recordEvidence) await deps.recordEvidence(task.taskUuid, evidence);
    });
    signal.throwIfAborted();
    const { value, failure } = returnValue;

    const tags = new Map<string, Buffer>();
    if (task.outputData.size > 0) {
      const sealed = await Promise.all(
        [...task.outputData].map(async ([name, output]) => {
          if (output.crypto.schema === "raw") throw new TaskFailure("OutputFile: unsupported type");
          const plaintext = runtime.outputs.get(name);
          if (!plaintext) {
            const kind =
              output.crypto.schema === "teaclave-file-128" ? "teaclave_file" : output.crypto.schema;
            throw new TaskFailure(`Convert ${kind}: failed to open src file`);
          }
          const { data, tag } = await deps.codec.seal(plaintext, output.crypto, output.url);
          tags.set(name, tag);
          return { url: output.url, owners: output.owners, data };
        }),
      );
      await Promise.all(sealed.map((o) => deps.agent.upload(o.url, o.data, { owners: o.owners, signal })));
    }
    return {
      kind: "Ok",
      returnValue: Buffer.from(value, "utf8"),
      tagsMap: tags,
      log: saveLog ? runtime.logs : [],
      ...(failure !== undefined ? { failure } : {}),
    };
  } catch (e) {
    if (signal.aborted) throw signal.reason ?? e;
    const reason = e instanceof Error ? e.message : String(e);
    if (!(e instanceof TaskFailure)) deps.log.warn({ err: e, task: task.taskUuid }, "task failed");
    return { kind: "Err", reason };
  }
}

/**
 * Runs the function. A failure the legacy executor reported as a successful result
 * (`TaskFailure.legacyReturnValue`) keeps that result, with its outputs, and carries the reason
 * beside it (docs/decisions.md).
 */
async function executeLegacyAware(
  executor: Executor,
  request: ExecutionRequest,
): Promise<{ value: string; failure?: string }> {
  try {
    return { value: await executor.execute(request) };
  } catch (e) {
    if (e instanceof TaskFailure && e.legacyReturnValue !== undefined && !request.signal.aborted)
      return { value: e.legacyReturnValue, failure: e.message };
    throw e;
  }
}
