import type { Readable, Writable } from "node:stream";
import { LibosError } from "./errors.js";

/**
 * The guest protocol's framing (the same on the raw pipe and inside TLS): u32 total length, u32
 * header length, a JSON header `{t, body, blobs}` and the binary blobs in header order, so
 * payloads and files travel without base64.
 */
export interface Frame {
  t: string;
  body: unknown;
  blobs: Buffer[];
}

const MAX_FRAME = 1 << 30;
const MAX_HEADER = 1 << 20;

export function encodeFrame(t: string, body: unknown, blobs: Buffer[] = []): Buffer[] {
  const header = Buffer.from(JSON.stringify({ t, body, blobs: blobs.map((b) => b.length) }), "utf8");
  const total = 4 + header.length + blobs.reduce((n, b) => n + b.length, 0);
  if (total > MAX_FRAME) throw new LibosError("limit", "message to the guest exceeds 1 GiB");
  const pre = Buffer.alloc(8);
  pre.writeUInt32BE(total, 0);
  pre.writeUInt32BE(header.length, 4);
  return [pre, header, ...blobs];
}

export function writeFrame(w: Writable, t: string, body: unknown, blobs: Buffer[] = []): void {
  for (const part of encodeFrame(t, body, blobs)) w.write(part);
}

/**
 * Reads frames from a stream the guest writes. Bounded: a frame larger than `maxFrame` fails the
 * session instead of buffering without end (a guest is untrusted until its result verifies).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private waiting: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (c: Buffer) => {
    this.chunks.push(c);
    this.length += c.length;
    this.pump();
  };
  /** What a closed channel means to the caller (during a task: the instance was killed). */
  endError: Error = new LibosError("protocol", "the guest closed its channel");
  private readonly onEnd = () => this.fail(this.endError);
  private endErrorSet = false;
  private readonly onError = (e: Error) =>
    this.fail(this.endErrorSet ? this.endError : new LibosError("protocol", `guest channel: ${e.message}`));

  /** During a task a broken channel means the instance was killed: say so, whatever the socket error. */
  setEndError(e: Error): void {
    this.endError = e;
    this.endErrorSet = true;
  }

  constructor(
    private readonly stream: Readable,
    private readonly maxFrame = MAX_FRAME,
  ) {
    stream.on("data", this.onData);
    stream.on("end", this.onEnd);
    stream.on("error", this.onError);
  }

  /** Stops reading (e.g. before TLS takes the stream over); returns bytes read but not consumed. */
  detach(): Buffer {
    this.stream.off("data", this.onData);
    this.stream.off("end", this.onEnd);
    this.stream.off("error", this.onError);
    this.stream.pause();
    return Buffer.concat(this.chunks);
  }

  fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    // A frame that arrived complete before the failure is still delivered.
    this.pump();
  }

  next(): Promise<Frame> {
    if (this.waiting) throw new Error("FrameReader.next called twice");
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.pump();
    });
  }

  private pump(): void {
    if (!this.waiting) return;
    const f = this.take();
    if (f) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve(f);
    } else if (this.failure) {
      const w = this.waiting;
      this.waiting = undefined;
      w.reject(this.failure);
    }
  }

  private take(): Frame | undefined {
    if (this.length < 8) return undefined;
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [buf];
    const total = buf.readUInt32BE(0);
    const hl = buf.readUInt32BE(4);
    if (total > this.maxFrame || hl > total - 4 || hl > MAX_HEADER) {
      this.fail(new LibosError("protocol", "the guest sent an oversized or malformed frame"));
      return undefined;
    }
    if (this.length < 4 + total) return undefined;
    let header: { t?: unknown; body?: unknown; blobs?: unknown };
    try {
      header = JSON.parse(buf.subarray(8, 8 + hl).toString("utf8"));
    } catch {
      this.fail(new LibosError("protocol", "the guest sent a frame header that is not JSON"));
      return undefined;
    }
    const sizes = Array.isArray(header.blobs) ? header.blobs : [];
    let at = 8 + hl;
    const end = 4 + total;
    const blobs: Buffer[] = [];
    for (const n of sizes) {
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || at + n > end) {
        this.fail(new LibosError("protocol", "the guest sent a frame with bad blob sizes"));
        return undefined;
      }
      blobs.push(Buffer.from(buf.subarray(at, at + n)));
      at += n;
    }
    if (at !== end || typeof header.t !== "string") {
      this.fail(new LibosError("protocol", "the guest sent a malformed frame"));
      return undefined;
    }
    buf = buf.subarray(end);
    this.chunks = buf.length ? [buf] : [];
    this.length = buf.length;
    return { t: header.t, body: header.body, blobs };
  }
}
