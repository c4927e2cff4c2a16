// Length-prefixed framing shared by the host and the sandboxed worker. One frame is
//   u32be bodyLength | u32be headerLength | header (UTF-8 JSON) | blob bytes...
// The header carries the message and the names and sizes of the blobs that follow, so binary
// task data (inputs, outputs, payloads) travels without base64 inflation.
// This file is loaded inside the sandbox too: it must import nothing outside node: builtins.

export interface Frame {
  /** The JSON message. */
  header: Record<string, unknown>;
  /** Binary attachments by name. */
  blobs: Map<string, Buffer>;
}

/** Which part of a frame went over its limit. */
export type FramePart = "frame" | "header" | "blobs";

export class FrameError extends Error {
  /** Set when the frame was refused for its announced size (nothing of it was buffered). */
  readonly tooLarge: { part: FramePart; size: number; limit: number } | undefined;
  constructor(message: string, tooLarge?: { part: FramePart; size: number; limit: number }) {
    super(message);
    this.name = "FrameError";
    this.tooLarge = tooLarge;
  }
}

/** Limits on the parts of the frames that follow, on top of the decoder's frame limit. */
export interface FrameLimits {
  /** Largest JSON header, in bytes. */
  maxHeaderBytes?: number;
  /** Largest sum of the blobs' sizes, in bytes. */
  maxBlobBytes?: number;
}

const BLOBS_KEY = "$blobs";

export function encodeFrame(
  header: Record<string, unknown>,
  blobs?: ReadonlyMap<string, Uint8Array>,
): Buffer {
  const sizes: Array<[string, number]> = [];
  const parts: Uint8Array[] = [];
  for (const [name, data] of blobs ?? []) {
    sizes.push([name, data.byteLength]);
    parts.push(data);
  }
  const head = Buffer.from(JSON.stringify({ ...header, [BLOBS_KEY]: sizes }), "utf8");
  const bodyLength = 4 + head.length + parts.reduce((n, p) => n + p.byteLength, 0);
  if (bodyLength > 0xffffffff) throw new FrameError("frame too large");
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeUInt32BE(bodyLength, 0);
  prefix.writeUInt32BE(head.length, 4);
  return Buffer.concat([prefix, head, ...parts]);
}

/** Both length fields of a frame: every frame has them, since the body holds the header length. */
const PREFIX_BYTES = 8;

/**
 * Incremental decoder. `push` returns the frames completed by a chunk. The peer is not trusted,
 * so a frame is judged by its 8-byte prefix before any more of it is kept: one longer than
 * `maxFrameBytes`, or whose header or blobs exceed the current `FrameLimits`, throws FrameError
 * with `tooLarge` set; a malformed one throws FrameError.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private limits: FrameLimits = {};
  /** The prefix of the frame being received has been checked. */
  private checked = false;

  constructor(private readonly maxFrameBytes: number) {}

  /** Sets the limits for the frames that follow (e.g. the reply to a job); null lifts them. */
  limit(limits: FrameLimits | null | undefined): void {
    this.limits = limits ?? {};
  }

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < PREFIX_BYTES) break;
      // Join chunks only once a whole frame is here: joining on every chunk would copy a large
      // frame quadratically.
      if (this.chunks[0]!.length < PREFIX_BYTES) this.chunks = [Buffer.concat(this.chunks)];
      const bodyLength = this.chunks[0]!.readUInt32BE(0);
      if (!this.checked) {
        this.check(bodyLength, this.chunks[0]!.readUInt32BE(4));
        this.checked = true;
      }
      if (this.buffered < 4 + bodyLength) break;
      this.checked = false;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      frames.push(decodeBody(all.subarray(4, 4 + bodyLength)));
      const rest = all.subarray(4 + bodyLength);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }

  private check(bodyLength: number, headLength: number): void {
    const tooLarge = (part: FramePart, size: number, limit: number) =>
      new FrameError(`${part} of ${size} bytes exceeds the limit of ${limit} bytes`, { part, size, limit });
    if (bodyLength > this.maxFrameBytes) throw tooLarge("frame", bodyLength, this.maxFrameBytes);
    if (bodyLength < 4) throw new FrameError("frame too short");
    if (4 + headLength > bodyLength) throw new FrameError("header overruns frame");
    const { maxHeaderBytes, maxBlobBytes } = this.limits;
    if (maxHeaderBytes !== undefined && headLength > maxHeaderBytes) {
      throw tooLarge("header", headLength, maxHeaderBytes);
    }
    const blobBytes = bodyLength - 4 - headLength;
    if (maxBlobBytes !== undefined && blobBytes > maxBlobBytes)
      throw tooLarge("blobs", blobBytes, maxBlobBytes);
  }
}

function decodeBody(body: Buffer): Frame {
  const headLength = body.readUInt32BE(0);
  if (4 + headLength > body.length) throw new FrameError("header overruns frame");
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.subarray(4, 4 + headLength).toString("utf8"));
  } catch {
    throw new FrameError("header is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FrameError("header is not an object");
  }
  const header = parsed as Record<string, unknown>;
  const sizes = header[BLOBS_KEY];
  delete header[BLOBS_KEY];
  if (!Array.isArray(sizes)) throw new FrameError("missing blob table");
  const blobs = new Map<string, Buffer>();
  let offset = 4 + headLength;
  for (const entry of sizes) {
    if (
      !Array.isArray(entry) ||
      entry.length !== 2 ||
      typeof entry[0] !== "string" ||
      !Number.isSafeInteger(entry[1]) ||
      entry[1] < 0
    ) {
      throw new FrameError("bad blob table entry");
    }
    const [name, size] = entry as [string, number];
    if (offset + size > body.length) throw new FrameError("blob overruns frame");
    if (blobs.has(name)) throw new FrameError("duplicate blob name");
    // Copy so a retained blob does not pin the whole (possibly large) frame buffer.
    blobs.set(name, Buffer.from(body.subarray(offset, offset + size)));
    offset += size;
  }
  if (offset !== body.length) throw new FrameError("trailing bytes in frame");
  return { header, blobs };
}
