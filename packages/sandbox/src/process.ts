// One sandboxed worker process: started, initialised, given exactly one job, then killed.
import type { ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { CHANNEL_FD, type Command, spawnCommand } from "./command.js";
import {
  SandboxAbortedError,
  SandboxCrashedError,
  type SandboxError,
  SandboxJobError,
  SandboxProtocolError,
  SandboxReplyTooLargeError,
  SandboxStartError,
  SandboxTimeoutError,
} from "./errors.js";
import { sandboxEvents } from "./events.js";
import { OutputBudget, OutputLines } from "./output-lines.js";
import type { ReplyLimits, SandboxJob, SandboxResult } from "./types.js";
import { encodeFrame, type Frame, FrameDecoder, FrameError } from "./worker/frame.js";

/** Bounds of the stdout/stderr lines a job streams (see output-lines.ts). */
export interface OutputLineLimits {
  /** Longest line, in bytes; a longer one is cut and marked. */
  maxLineBytes: number;
  /** Bytes of lines both streams of one job may hand over; the rest is not sent. */
  maxBytes: number;
}

type State = "starting" | "ready" | "running" | "dead";

export interface SandboxProcessOptions {
  command: Command;
  /** The encoded `init` frame (worker script, options, init blobs). */
  initFrame: Buffer;
  startTimeoutMs: number;
  maxMessageBytes: number;
  maxCapturedOutputBytes: number;
  /**
   * Keep the process after a job that ended with a result, for the next job (a recyclable worker,
   * see reusable.ts). Any failure still kills it.
   */
  reusable?: boolean;
  /** The pool's name in `sandboxEvents` (e.g. `javascript`). */
  pool?: string;
}

/** Bounded capture of a stream of untrusted text. */
class Capture {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = false;
  /** While a job streams its output: its lines, as they arrive. */
  lines: OutputLines | null = null;
  constructor(
    stream: Readable | null,
    private readonly limit: number,
  ) {
    stream?.on("data", (b: Buffer) => {
      this.lines?.push(b);
      const room = this.limit - this.size;
      if (room <= 0) {
        this.dropped = true;
        return;
      }
      const part = b.length > room ? b.subarray(0, room) : b;
      if (part.length < b.length) this.dropped = true;
      this.chunks.push(part);
      this.size += part.length;
    });
  }
  reset(): void {
    this.chunks = [];
    this.size = 0;
    this.dropped = false;
  }
  text(): string {
    const s = Buffer.concat(this.chunks).toString("utf8");
    return this.dropped ? `${s}\n[output truncated]` : s;
  }
}

export class SandboxProcess {
  readonly uid: number | undefined;
  /** Settles when the worker is ready for its job (or fails to start). */
  readonly ready: Promise<void>;
  /** Settles when the sandbox's outer process has exited. */
  readonly exited: Promise<void>;
  /**
   * Settles when every process holding the sandbox's stdout/stderr is gone — the whole PID
   * namespace — and all their output has been read.
   */
  readonly closed: Promise<void>;
  private state: State = "starting";
  private readonly child: ChildProcess;
  private readonly decoder: FrameDecoder;
  private readonly stdout: Capture;
  private readonly stderr: Capture;
  private onFrame: (f: Frame) => void = () => {};
  private onEnd: (e: SandboxError) => void = () => {};
  private exitInfo: { code: number | null; signal: string | null } | null = null;
  private readonly reusable: boolean;

  constructor(opts: SandboxProcessOptions) {
    this.uid = opts.command.uid;
    this.reusable = opts.reusable ?? false;
    this.decoder = new FrameDecoder(opts.maxMessageBytes);
    this.child = spawnCommand(opts.command);
    this.stdout = new Capture(this.child.stdout, opts.maxCapturedOutputBytes);
    this.stderr = new Capture(this.child.stderr, opts.maxCapturedOutputBytes);
    const channel = this.child.stdio[CHANNEL_FD] as Readable & { write(b: Buffer): boolean; destroy(): void };
    channel.on("error", () => {});
    channel.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.decoder.push(chunk);
      } catch (e) {
        const big = e instanceof FrameError ? e.tooLarge : undefined;
        this.fail(
          big
            ? new SandboxReplyTooLargeError(big.part, big.size, big.limit)
            : new SandboxProtocolError(e instanceof FrameError ? e.message : "undecodable frame"),
        );
        return;
      }
      for (const f of frames) this.onFrame(f);
    });
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        this.state = "dead";
        channel.destroy();
        this.onEnd(new SandboxCrashedError(code, signal));
        resolve();
      });
    });
    this.closed = new Promise((resolve) => this.child.on("close", () => resolve()));
    this.child.on("error", (e) => {
      this.state = "dead";
      this.onEnd(new SandboxStartError("cannot spawn the sandbox", { cause: e }));
    });

    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill();
        reject(
          new SandboxStartError(`sandboxed worker did not become ready within ${opts.startTimeoutMs} ms`),
        );
      }, opts.startTimeoutMs);
      const settle = (e?: SandboxError) => {
        clearTimeout(timer);
        this.onFrame = () => this.fail(new SandboxProtocolError("unexpected message"));
        this.onEnd = () => {};
        if (e) reject(e);
        else resolve();
      };
      this.onFrame = (f) => {
        if (f.header.t === "ready") {
          this.state = "ready";
          settle();
        } else if (f.header.t === "init-error") {
          this.kill();
          settle(new SandboxStartError(`sandboxed worker init failed: ${String(f.header.message)}`));
        } else {
          this.kill();
          settle(new SandboxProtocolError("unexpected message before ready"));
        }
      };
      this.onEnd = (e) => {
        const tail = this.stderr.text().slice(-2000);
        settle(
          e instanceof SandboxCrashedError
            ? new SandboxStartError(
                `sandboxed worker exited during start (${e.message})${tail ? `: ${tail}` : ""}`,
              )
            : e,
        );
      };
    });
    // A failed start is reported through `ready`; keep it from being an unhandled rejection.
    this.ready.catch(() => {});
    const spawnedAt = performance.now();
    this.ready.then(
      () =>
        sandboxEvents.emit("worker-started", {
          pool: opts.pool ?? "sandbox",
          seconds: (performance.now() - spawnedAt) / 1000,
        }),
      () => undefined,
    );
    channel.write(opts.initFrame);
  }

  get isReady(): boolean {
    return this.state === "ready";
  }

  get isDead(): boolean {
    return this.state === "dead";
  }

  /**
   * Runs the one job this sandbox will ever see (the caller kills the sandbox afterwards), or, for
   * a reusable process, the next job; a reusable process is ready again once this resolves.
   */
  run(
    job: SandboxJob,
    options: {
      signal?: AbortSignal;
      timeoutMs: number;
      replyLimits?: ReplyLimits;
      onLog?: (line: string) => void;
      /** Also hand this job's stdout and stderr lines to onLog as they arrive (bounded). */
      outputLines?: OutputLineLimits;
    },
  ): Promise<SandboxResult> {
    if (this.state !== "ready") return Promise.reject(new SandboxProtocolError("sandbox is not ready"));
    this.state = "running";
    const { signal, timeoutMs } = options;
    // Before the job is sent: nothing of the reply may arrive under the looser limits.
    this.decoder.limit(options.replyLimits);
    return new Promise<SandboxResult>((resolve, reject) => {
      let done = false;
      const finish = (err: SandboxError | null, result?: SandboxResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.onFrame = () => {};
        this.onEnd = () => {};
        if (err) this.stopLines(false);
        if (err || !this.reusable) this.kill();
        if (err) {
          // Reject only once the sandbox is gone, so no code of this job is still running.
          void this.exited.then(() => reject(err));
        } else {
          // The worker writes stdout/stderr synchronously before its reply, so that output is
          // already in the pipes; one pass of the event loop's poll phase reads it.
          setImmediate(() =>
            setImmediate(() => {
              this.stopLines(true);
              const output = { stdout: this.stdout.text(), stderr: this.stderr.text() };
              if (this.reusable && this.state === "running") this.state = "ready";
              resolve({ ...result!, ...output });
            }),
          );
        }
      };
      const onAbort = () => finish(new SandboxAbortedError({ cause: signal?.reason }));
      const timer = setTimeout(() => finish(new SandboxTimeoutError(timeoutMs)), timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.onEnd = (e) => {
        if (e instanceof SandboxCrashedError) e.stderrTail = this.stderr.text().slice(-2000);
        finish(e);
      };
      this.onFrame = (f) => {
        if (f.header.t === "result") {
          finish(null, {
            data: f.header.data,
            blobs: f.blobs,
            stdout: this.stdout.text(),
            stderr: this.stderr.text(),
          });
        } else if (f.header.t === "log") {
          // A live log line; the job goes on. Lines are bounded by the reply limits like any frame.
          if (typeof f.header.line === "string") options.onLog?.(f.header.line);
        } else if (f.header.t === "error") {
          finish(new SandboxJobError(String(f.header.message)));
        } else finish(new SandboxProtocolError("unexpected message during job"));
      };
      this.stdout.reset();
      this.stderr.reset();
      if (options.outputLines && options.onLog) {
        const { maxLineBytes, maxBytes } = options.outputLines;
        const budget = new OutputBudget(maxBytes);
        this.stdout.lines = new OutputLines(options.onLog, maxLineBytes, budget);
        this.stderr.lines = new OutputLines(options.onLog, maxLineBytes, budget);
      }
      const channel = this.child.stdio[CHANNEL_FD] as unknown as { write(b: Buffer): boolean };
      try {
        channel.write(encodeFrame({ t: "job", data: job.data ?? null }, job.blobs));
      } catch (e) {
        finish(new SandboxProtocolError(e instanceof Error ? e.message : "cannot encode job"));
      }
    });
  }

  /** The job is over: its last unterminated lines are sent (after a result) and no more after. */
  private stopLines(flush: boolean): void {
    for (const capture of [this.stdout, this.stderr]) {
      if (flush) capture.lines?.flush();
      capture.lines = null;
    }
  }

  /**
   * SIGKILL the sandbox. Killing bwrap takes its PID namespace down (--die-with-parent makes the
   * namespace's init die with it, and the kernel then kills every process inside).
   */
  kill(): void {
    if (this.exitInfo) return;
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }

  private fail(e: SandboxError): void {
    this.kill();
    this.onEnd(e);
  }
}
