import assert from "node:assert/strict";
import { test } from "node:test";
import { Status } from "@cloister/core";
import { decodeStatusMessage, frameMessage, MessageReader, timeoutHeader } from "../src/http2-framing.js";

test("messages are read whatever the chunking: split prefixes and bodies, several per chunk, empty", () => {
  const messages = [Buffer.from("hello"), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from("x")];
  const wire = Buffer.concat(messages.map(frameMessage));
  for (const size of [1, 2, 3, 4, 5, 6, 7, 13, 4096, wire.length]) {
    const reader = new MessageReader(1 << 20);
    const got: Buffer[] = [];
    for (let i = 0; i < wire.length; i += size)
      assert.equal(
        reader.write(wire.subarray(i, i + size), (m) => got.push(Buffer.from(m))),
        undefined,
      );
    assert.deepEqual(got, messages, `chunks of ${size}`);
    assert.equal(reader.partial, false);
  }
  const cut = new MessageReader(100);
  cut.write(frameMessage(Buffer.from("abc")).subarray(0, 6), () => assert.fail("incomplete"));
  assert.equal(cut.partial, true);
});

test("a declared length over the limit and a compressed flag fail before the body is buffered", () => {
  const big = frameMessage(Buffer.alloc(101)).subarray(0, 5);
  assert.equal(new MessageReader(100).write(big, () => assert.fail())?.code, Status.RESOURCE_EXHAUSTED);
  const compressed = Buffer.from([1, 0, 0, 0, 1, 0]);
  assert.equal(new MessageReader(100).write(compressed, () => assert.fail())?.code, Status.INTERNAL);
});

test("grpc-timeout and grpc-message encodings", () => {
  assert.equal(timeoutHeader(1500.2), "1501m");
  assert.equal(timeoutHeader(-5), "0m");
  assert.equal(timeoutHeader(2e8), "200000S");
  assert.equal(decodeStatusMessage("caf%C3%A9%20100%25"), "café 100%");
  assert.equal(decodeStatusMessage("bad %E2 text"), "bad %E2 text");
  assert.equal(decodeStatusMessage("plain"), "plain");
});
