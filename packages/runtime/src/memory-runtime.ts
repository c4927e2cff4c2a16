import { TaskFailure, type TaskRuntime } from "./executor.js";

export interface MemoryTaskRuntimeLimits {
  /** Largest single output, in bytes. */
  maxOutputBytes: number;
  /** Log lines beyond this many bytes are dropped. */
  maxLogBytes: number;
}

/**
 * A task's plaintext files, in memory only: what an execution node hands an executor (inputs
 * decrypted after download, outputs encrypted before upload — nothing here touches a disk).
 * Tests and benchmarks use it the same way.
 */
export class MemoryTaskRuntime implements TaskRuntime {
  readonly outputs = new Map<string, Buffer>();
  readonly logs: string[] = [];
  private readonly inputs: ReadonlyMap<string, Buffer>;
  private logBytes = 0;

  constructor(
    inputs: ReadonlyMap<string, Buffer> | Readonly<Record<string, Buffer | string>> = new Map(),
    private readonly declaredOutputs: readonly string[] = [],
    private readonly limits: MemoryTaskRuntimeLimits = { maxOutputBytes: 1 << 30, maxLogBytes: 1 << 20 },
  ) {
    this.inputs =
      inputs instanceof Map
        ? inputs
        : new Map(Object.entries(inputs).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
  }

  inputNames(): string[] {
    return [...this.inputs.keys()];
  }

  outputNames(): string[] {
    return [...this.declaredOutputs];
  }

  async readInput(name: string): Promise<Buffer> {
    const data = this.inputs.get(name);
    if (!data) throw new TaskFailure("Invalid input file identifier.");
    return data;
  }

  async writeOutput(name: string, data: Buffer): Promise<void> {
    if (!this.declaredOutputs.includes(name)) throw new TaskFailure("Invalid output file identifier");
    if (data.length > this.limits.maxOutputBytes) {
      throw new TaskFailure(`output ${name} exceeds ${this.limits.maxOutputBytes} bytes`);
    }
    this.outputs.set(name, Buffer.from(data));
  }

  log(line: string): void {
    if (this.logBytes + line.length > this.limits.maxLogBytes) return;
    this.logBytes += line.length;
    this.logs.push(line);
  }
}
