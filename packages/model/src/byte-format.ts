/**
 * How byte fields of a record are written in its JSON: the legacy form is an array of numbers
 * (what Teaclave's serde wrote, up to 4 characters per byte, parsed one number at a time), the
 * compact form a base64 string. A record codec picks the form for one synchronous encode or
 * decode (`withByteFormat`); nothing awaits in between, so the choice never leaks into another
 * record.
 */
export type ByteFormat = "numbers" | "base64";

let current: ByteFormat = "numbers";

export function withByteFormat<T>(format: ByteFormat, run: () => T): T {
  const previous = current;
  current = format;
  try {
    return run();
  } finally {
    current = previous;
  }
}

export const byteFormat = (): ByteFormat => current;
