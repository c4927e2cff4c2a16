import type { IncomingHttpHeaders } from "node:http2";
import { Status } from "@cloister/core";
import type * as grpc from "@grpc/grpc-js";
import { status } from "./client-calls.js";

/** gRPC's length-prefixed message: flag byte (0 = not compressed), 4-byte big-endian length, bytes. */
export function frameMessage(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

const EMPTY = Buffer.alloc(0);

/** Up to one flow-control window (64 KiB), a split message's buffer is allocated at its prefix. */
const PREALLOCATE_MAX = 64 * 1024;

/** A client offers only `identity`, so a server compressing anyway is broken. */
const clientFlagFailure = (flag: number): grpc.StatusObject =>
  status(
    Status.INTERNAL,
    flag === 1
      ? "Received a compressed message; this client accepts only identity encoding"
      : `Received a message with an invalid flag byte ${flag}`,
  );

/**
 * Splits DATA into messages. A message whose prefix declares more than the receive limit fails
 * the call before its bytes are buffered; a message with a flag byte other than 0 (compressed)
 * fails it with `flagFailure`'s status (the client's by default).
 */
export class MessageReader {
  /** A prefix split across chunks (rare: allocated then). */
  private prefix: Buffer | undefined;
  private prefixFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;
  /** A large message arriving in pieces: kept as received, joined once complete. */
  private parts: Buffer[] | undefined;
  private partsNeed = 0;
  private partsHave = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly flagFailure: (flag: number) => grpc.StatusObject = clientFlagFailure,
  ) {}

  /** Feeds one chunk; `onMessage` gets each complete message. Returns the failure, if any. */
  write(chunk: Buffer, onMessage: (message: Buffer) => void): grpc.StatusObject | undefined {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      const parts = this.parts;
      if (parts) {
        const take = Math.min(this.partsNeed - this.partsHave, n - i);
        parts.push(chunk.subarray(i, i + take));
        this.partsHave += take;
        i += take;
        if (this.partsHave === this.partsNeed) {
          this.parts = undefined;
          onMessage(Buffer.concat(parts, this.partsNeed));
        }
        continue;
      }
      const body = this.body;
      if (body) {
        const take = Math.min(body.length - this.bodyFill, n - i);
        chunk.copy(body, this.bodyFill, i, i + take);
        this.bodyFill += take;
        i += take;
        if (this.bodyFill === body.length) {
          this.body = undefined;
          onMessage(body);
        }
        continue;
      }
      let flag: number;
      let length: number;
      if (this.prefixFill === 0 && n - i >= 5) {
        flag = chunk[i] as number;
        length = chunk.readUInt32BE(i + 1);
        i += 5;
      } else {
        this.prefix ??= Buffer.alloc(5);
        const prefix = this.prefix;
        const take = Math.min(5 - this.prefixFill, n - i);
        chunk.copy(prefix, this.prefixFill, i, i + take);
        this.prefixFill += take;
        i += take;
        if (this.prefixFill < 5) break;
        this.prefixFill = 0;
        flag = prefix[0] as number;
        length = prefix.readUInt32BE(1);
      }
      if (flag !== 0) return this.flagFailure(flag);
      if (length > this.maxBytes)
        return status(
          Status.RESOURCE_EXHAUSTED,
          `Received message larger than max (${length} vs ${this.maxBytes})`,
        );
      if (length === 0) onMessage(EMPTY);
      else if (n - i >= length) {
        // The whole message is in this chunk: no copy.
        onMessage(chunk.subarray(i, i + length));
        i += length;
      } else if (length <= PREALLOCATE_MAX) {
        this.body = Buffer.allocUnsafe(length);
        this.bodyFill = 0;
      } else {
        // Memory follows the bytes received, not what a 5-byte prefix declares.
        this.parts = [];
        this.partsNeed = length;
        this.partsHave = 0;
      }
    }
    return undefined;
  }

  /** A message started and not finished when the response ended. */
  get partial(): boolean {
    return this.body !== undefined || this.parts !== undefined || this.prefixFill > 0;
  }
}

/** grpc-timeout as grpc-js writes it: the remaining time, rounded up, in the finest unit under 10^8. */
export function timeoutHeader(remainingMs: number): string {
  const ms = Math.max(0, remainingMs);
  if (ms < 1e8) return `${Math.ceil(ms)}m`;
  if (ms / 1000 < 1e8) return `${Math.ceil(ms / 1000)}S`;
  if (ms / 60_000 < 1e8) return `${Math.ceil(ms / 60_000)}M`;
  return `${Math.ceil(ms / 3_600_000)}H`;
}

/** grpc-message is percent-encoded (gRPC spec); a malformed encoding is shown as sent. */
export function decodeStatusMessage(raw: string): string {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The gRPC code and text of trailers (or trailers-only headers), or undefined without grpc-status. */
export function statusOfTrailers(
  headers: IncomingHttpHeaders,
): { code: number; details: string } | undefined {
  const raw = headers["grpc-status"];
  if (typeof raw !== "string") return undefined;
  const code = Number(raw);
  const message = headers["grpc-message"];
  return {
    code: Number.isInteger(code) && code >= 0 && code <= 16 ? code : Status.UNKNOWN,
    details: typeof message === "string" ? decodeStatusMessage(message) : "",
  };
}

/** A response that ended without grpc-status: its HTTP status as grpc-js maps it. */
export function statusOfHttp(httpStatus: number | undefined): { code: number; details: string } {
  if (httpStatus === undefined || httpStatus === 200)
    return { code: Status.UNKNOWN, details: "No status information received" };
  const code =
    httpStatus === 400
      ? Status.INTERNAL
      : httpStatus === 401
        ? Status.UNAUTHENTICATED
        : httpStatus === 403
          ? Status.PERMISSION_DENIED
          : httpStatus === 404
            ? Status.UNIMPLEMENTED
            : httpStatus === 429 || httpStatus === 502 || httpStatus === 503 || httpStatus === 504
              ? Status.UNAVAILABLE
              : Status.UNKNOWN;
  return { code, details: `Received HTTP status code ${httpStatus}` };
}
