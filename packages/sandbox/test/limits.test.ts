import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SandboxReplyTooLargeError } from "../src/index.js";
import { encodeFrame, FrameDecoder, FrameError } from "../src/worker/frame.js";
import { SingleUsePool } from "./single-use.js";

const workerScript = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "probe-worker.js");
const MiB = 1024 * 1024;

describe("FrameDecoder limits", () => {
  const prefix = (body: number, head: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(body, 0);
    b.writeUInt32BE(head, 4);
    return b;
  };

  it("refuses from the 8-byte prefix alone, before any of the frame is buffered", () => {
    const cases: Array<[Buffer, string, number]> = [
      [prefix(40 * MiB, 100), "frame", 40 * MiB],
      [prefix(3 * MiB + 4, 3 * MiB), "header", 3 * MiB],
      [prefix(20 * MiB + 104, 100), "blobs", 20 * MiB],
    ];
    for (const [bytes, part, size] of cases) {
      const d = new FrameDecoder(32 * MiB);
      d.limit({ maxHeaderBytes: MiB, maxBlobBytes: 4 * MiB });
      assert.throws(
        () => d.push(bytes),
        (e: unknown) => e instanceof FrameError && e.tooLarge?.part === part && e.tooLarge.size === size,
        part,
      );
    }
  });

  it("waits for a prefix split across chunks, then judges it", () => {
    const d = new FrameDecoder(16 * MiB);
    d.limit({ maxHeaderBytes: 10 });
    const p = prefix(1000, 500);
    assert.deepEqual(d.push(p.subarray(0, 3)), []);
    assert.throws(
      () => d.push(p.subarray(3)),
      (e: unknown) => (e as FrameError).tooLarge?.part === "header",
    );
  });

  it("a header that overruns its frame is malformed, not oversized", () => {
    const d = new FrameDecoder(16 * MiB);
    assert.throws(
      () => d.push(prefix(10, 100)),
      (e: unknown) => e instanceof FrameError && !e.tooLarge,
    );
  });

  it("passes frames within the limits, and the limits apply from the next frame on", () => {
    const d = new FrameDecoder(16 * MiB);
    const small = encodeFrame({ t: "x" }, new Map([["b", Buffer.alloc(10)]]));
    assert.equal(d.push(small).length, 1);
    d.limit({ maxBlobBytes: 5 });
    assert.throws(
      () => d.push(small),
      (e: unknown) => (e as FrameError).tooLarge?.part === "blobs",
    );
  });
});

describe("reply limits of a job", () => {
  let pool: SingleUsePool;
  before(async () => {
    pool = new SingleUsePool({ workerScript, size: 1 });
    await pool.start();
  });
  after(() => pool.close());

  const limits = { maxHeaderBytes: 64 * 1024, maxBlobBytes: MiB };

  for (const [what, arg, part] of [
    ["a forged 3 MiB result", { headerBytes: 3 * MiB }, "header"],
    ["a forged 20 MiB result", { headerBytes: 20 * MiB }, "header"],
    ["forged 20 MiB outputs", { blobBytes: 20 * MiB }, "blobs"],
  ] as const) {
    it(`fails ${what} with a typed error that says so, not a timeout`, async () => {
      await assert.rejects(
        pool.run({ data: { op: "forge", arg } }, { replyLimits: limits, timeoutMs: 120_000 }),
        (e: unknown) => {
          assert.ok(e instanceof SandboxReplyTooLargeError, String(e));
          assert.equal(e.kind, "oversized");
          assert.equal(e.part, part);
          assert.ok(e.size > e.limit);
          return true;
        },
      );
    });
  }

  it("the same reply passes without job limits (the pool's frame limit only)", async () => {
    const r = pool.run({ data: { op: "forge", arg: { headerBytes: 3 * MiB } } }, { timeoutMs: 60_000 });
    // The forged frame is a valid result: it comes back whole.
    const { data } = await r;
    assert.equal((data as { pad: string }).pad.length, 3 * MiB);
  });
});
