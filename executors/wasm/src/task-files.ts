/**
 * Per-task file handles with the legacy semantics, over plaintext
 * held in memory: inputs were read by the host before the sandbox started, outputs go back to it
 * when the function ends. Shared by the WebAssembly and JavaScript guests.
 */

/** Bit set on every output handle, so a handle tells which kind of file it is. */
export const OUTPUT_HANDLE_FLAG = 0x4000_0000;
/** Opens allowed per task, counting inputs and outputs together. */
export const MAX_OPENS = 1023;

/** Thrown (and latched) when the function writes more output than allowed. */
export class OutputLimitExceeded extends Error {
  constructor(limit: number) {
    super(`output limit exceeded: the task's outputs may hold at most ${limit} bytes`);
    this.name = "OutputLimitExceeded";
  }
}

interface InputHandle {
  kind: "input";
  data: Uint8Array;
  position: number;
}
interface OutputHandle {
  kind: "output";
  name: string;
}

export class TaskFiles {
  private readonly inputs: ReadonlyMap<string, Uint8Array>;
  private readonly outputNames: ReadonlySet<string>;
  private readonly handles = new Map<number, InputHandle | OutputHandle>();
  private readonly written = new Map<string, Uint8Array[]>();
  private counter = 0;
  private outputBytes = 0;
  /** Set once the output limit was hit; the task fails whatever the function does afterwards. */
  limitExceeded: OutputLimitExceeded | null = null;

  constructor(
    inputs: ReadonlyMap<string, Uint8Array>,
    outputNames: Iterable<string>,
    private readonly maxOutputBytes: number,
  ) {
    this.inputs = inputs;
    this.outputNames = new Set(outputNames);
  }

  /** Handle of a fresh read stream over input `name`, or -1. */
  openInput(name: string): number {
    const data = this.inputs.get(name);
    if (data === undefined || this.counter >= MAX_OPENS) return -1;
    const fd = ++this.counter;
    this.handles.set(fd, { kind: "input", data, position: 0 });
    return fd;
  }

  /** Handle of output `name`, created empty (re-creating truncates), or -1. */
  createOutput(name: string): number {
    if (!this.outputNames.has(name) || this.counter >= MAX_OPENS) return -1;
    const fd = ++this.counter | OUTPUT_HANDLE_FLAG;
    this.outputBytes -= size(this.written.get(name));
    this.written.set(name, []);
    this.handles.set(fd, { kind: "output", name });
    return fd;
  }

  /** Up to `max` bytes from an input handle (empty at EOF), or null for a bad handle. */
  read(fd: number, max: number): Uint8Array | null {
    const h = this.handles.get(fd);
    if (h?.kind !== "input" || max < 0) return null;
    const chunk = h.data.subarray(h.position, Math.min(h.data.length, h.position + max));
    h.position += chunk.length;
    return chunk;
  }

  /** Appends to an output handle; bytes written, or -1 for a bad handle. Throws past the limit. */
  write(fd: number, data: Uint8Array): number {
    const h = this.handles.get(fd);
    if (h?.kind !== "output") return -1;
    if (this.outputBytes + data.length > this.maxOutputBytes) {
      this.limitExceeded ??= new OutputLimitExceeded(this.maxOutputBytes);
      throw this.limitExceeded;
    }
    this.outputBytes += data.length;
    // Copy: the caller's view is usually into guest memory that keeps changing.
    this.written.get(h.name)?.push(Uint8Array.from(data));
    return data.length;
  }

  /** 0, or -1 for an unknown (or already closed) handle. */
  close(fd: number): number {
    return this.handles.delete(fd) ? 0 : -1;
  }

  /** Every output the function created, with its final content. */
  outputs(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [name, chunks] of this.written) out.set(name, Buffer.concat(chunks));
    return out;
  }
}

function size(chunks: Uint8Array[] | undefined): number {
  let n = 0;
  for (const c of chunks ?? []) n += c.length;
  return n;
}
