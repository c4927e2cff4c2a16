// A job's stdout or stderr cut into log lines as the bytes arrive, for runtimes whose task writes
// its log to its standard streams (a forked CPython child): the lines reach the host through the
// sandbox's output pipes, never through the frame channel, so nothing the task writes can pose as
// a frame. Untrusted bytes, so bounded: a line is cut at `maxLineBytes`, and the stream stops
// once `budget` (shared by stdout and stderr of one job) is spent.

const CUT_MARK = " […]";

/** Bytes both streams of one job may hand over as lines. */
export class OutputBudget {
  constructor(public left: number) {}
}

export class OutputLines {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** The current line was already cut and emitted: drop the rest of it. */
  private skipping = false;

  constructor(
    private readonly emit: (line: string) => void,
    private readonly maxLineBytes: number,
    private readonly budget: OutputBudget,
  ) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.budget.left > 0) {
      const nl = chunk.indexOf(0x0a, at);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.skipping) this.append(chunk.subarray(at, end));
      if (nl < 0) break;
      if (this.skipping) this.skipping = false;
      else this.line();
      at = nl + 1;
    }
  }

  /** The job ended: what follows the last newline is a line too. */
  flush(): void {
    if (this.partialBytes > 0 && !this.skipping) this.line();
    this.partial = [];
    this.partialBytes = 0;
    this.skipping = false;
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    const room = this.maxLineBytes - this.partialBytes;
    if (part.length <= room) {
      this.partial.push(part);
      this.partialBytes += part.length;
      return;
    }
    this.partial.push(part.subarray(0, room));
    this.partialBytes += room;
    const text = this.take().replace(/\uFFFD$/, "");
    this.send(`${text}${CUT_MARK}`);
    this.skipping = true;
  }

  private line(): void {
    this.send(this.take());
  }

  private take(): string {
    const text = Buffer.concat(this.partial, this.partialBytes).toString("utf8");
    this.partial = [];
    this.partialBytes = 0;
    return text.endsWith("\r") ? text.slice(0, -1) : text;
  }

  private send(line: string): void {
    const size = Buffer.byteLength(line) + 1;
    if (size > this.budget.left) {
      this.budget.left = 0;
      return;
    }
    this.budget.left -= size;
    this.emit(line);
  }
}
