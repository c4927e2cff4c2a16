import { type ExecutionRequest, type Executor, TaskFailure } from "@cloister/runtime";
import type { Builtin } from "./builtin.js";
import { createFaceDetection, faceDetection } from "./builtins/face.js";
import {
  gbdtPredict,
  gbdtTrain,
  logisticRegressionPredict,
  logisticRegressionTrain,
  principalComponentsAnalysis,
} from "./builtins/ml.js";
import { orderedSetIntersect, orderedSetJoin, privateJoinAndCompute } from "./builtins/sets.js";
import { echo, onlineDecrypt, passwordCheck, rsaSign } from "./builtins/simple.js";
import { CANCELED, RUNTIME_ERROR, TIMED_OUT, workerOffload } from "./offload.js";

/** Every builtin this package implements, by registered name. */
export const BUILTINS: readonly Builtin[] = [
  echo,
  orderedSetIntersect,
  orderedSetJoin,
  privateJoinAndCompute,
  passwordCheck,
  rsaSign,
  onlineDecrypt,
  gbdtTrain,
  gbdtPredict,
  logisticRegressionTrain,
  logisticRegressionPredict,
  principalComponentsAnalysis,
  faceDetection,
];

export const FUNCTION_NOT_FOUND = "Function not found.";

export interface BuiltinExecutorOptions {
  /**
   * Haar cascade XML used by `builtin-face-detection` (when that builtin is in the list).
   * Default: Debian `opencv-data`'s haarcascade_frontalface_alt2.xml.
   */
  faceCascadePath?: string;
}

/**
 * The `builtin` executor: picks the builtin by the function's exact registered name, ignores the
 * payload, and returns the builtin's textual result.
 */
export class BuiltinExecutor implements Executor {
  readonly accepts = [["builtin", "builtin"]] as const;
  private readonly functions: ReadonlyMap<string, Builtin>;

  constructor(builtins: readonly Builtin[] = BUILTINS, options: BuiltinExecutorOptions = {}) {
    const functions = new Map(builtins.map((b) => [b.name, b]));
    if (options.faceCascadePath !== undefined && functions.get(faceDetection.name) === faceDetection) {
      functions.set(faceDetection.name, createFaceDetection({ cascadePath: options.faceCascadePath }));
    }
    this.functions = functions;
  }

  /** Registered names this executor can run. */
  functionNames(): string[] {
    return [...this.functions.keys()];
  }

  async execute(request: ExecutionRequest): Promise<string> {
    const builtin = this.functions.get(request.functionName);
    if (!builtin) throw new TaskFailure(FUNCTION_NOT_FOUND);
    const { signal, limits, runtime } = request;
    if (signal.aborted) throw new TaskFailure(CANCELED);
    const deadline = Date.now() + limits.timeoutMs;
    const offload = workerOffload(limits, signal, deadline);
    const result = await untilStopped(
      builtin.run(request.arguments, { runtime, offload, signal }),
      signal,
      deadline,
    );
    if (Buffer.byteLength(result, "utf8") > limits.maxReturnBytes) {
      throw new TaskFailure(`return value exceeds ${limits.maxReturnBytes} bytes`);
    }
    return result;
  }
}

/**
 * Ends the task as soon as it is canceled or out of time, even between kernel runs (a kernel in
 * flight is terminated by the offload itself). Unexpected errors become a generic reason: their
 * messages are not written for participants and could quote data.
 */
function untilStopped(work: Promise<string>, signal: AbortSignal, deadline: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const onAbort = () => done(() => reject(new TaskFailure(CANCELED)));
    const timer = setTimeout(
      () => done(() => reject(new TaskFailure(TIMED_OUT))),
      Math.max(0, deadline - Date.now()),
    );
    let finished = false;
    function done(fn: () => void) {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      fn();
    }
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => done(() => resolve(value)),
      (err: unknown) =>
        done(() => reject(err instanceof TaskFailure ? err : new TaskFailure(RUNTIME_ERROR, { cause: err }))),
    );
  });
}
