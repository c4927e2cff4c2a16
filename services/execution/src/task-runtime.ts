import { TaskFailure, type TaskRuntime } from "@cloister/runtime";

/**
 * A task's plaintext files, in memory only: inputs decrypted after download, outputs encrypted
 * before upload. Nothing here ever touches the disk.
 */
export class MemoryTaskRuntime implements TaskRuntime {
  readonly outputs = new Map<string, Buffer>();
  readonly logLines: string[] = [];
  private logBytes = 0;

  constructor(
    private readonly inputs: ReadonlyMap<string, Buffer>,
    private readonly outputNamesList: readonly string[],
    private readonly limits: { maxOutputBytes: number; maxLogBytes: number } = {
      maxOutputBytes: 1 << 30,
      maxLogBytes: 1 << 20,
    },
  ) {}

  inputNames(): string[] {
    return [...this.inputs.keys()];
  }

  outputNames(): string[] {
    return [...this.outputNamesList];
  }

  async readInput(name: string): Promise<Buffer> {
    const data = this.inputs.get(name);
    if (!data) throw new TaskFailure("Invalid input file identifier.");
    return data;
  }

  async writeOutput(name: string, data: Buffer): Promise<void> {
    if (!this.outputNamesList.includes(name)) throw new TaskFailure("Invalid output file identifier");
    if (data.length > this.limits.maxOutputBytes)
      throw new TaskFailure(`output ${name} exceeds ${this.limits.maxOutputBytes} bytes`);
    this.outputs.set(name, Buffer.from(data));
  }

  log(line: string): void {
    if (this.logBytes + line.length > this.limits.maxLogBytes) return;
    this.logBytes += line.length;
    this.logLines.push(line);
  }
}
