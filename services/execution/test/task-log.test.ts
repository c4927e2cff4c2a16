import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { silentLogger } from "@cloister/core";
import { TaskLogRelay } from "../src/task-log.js";

const UUID = "7c3e0a52-1b7f-4c34-9a8e-2f1b6d0e9a11";

interface Sent {
  uuid: string;
  generation: number;
  lines: string[];
  truncated: boolean;
}

function relayWith(
  send: (s: Sent) => Promise<void>,
  options: ConstructorParameters<typeof TaskLogRelay>[2] = {},
) {
  const sent: Sent[] = [];
  const relay = new TaskLogRelay(
    async (uuid, generation, lines, truncated) => {
      const s = { uuid, generation, lines, truncated };
      await send(s);
      sent.push(s);
    },
    silentLogger,
    { flushMs: 20, ...options },
  );
  return { relay, sent };
}

describe("task log relay", () => {
  test("relays a leased task's lines in order, under its lease generation, before finish resolves", async () => {
    const { relay, sent } = relayWith(async () => undefined);
    assert.equal(relay.open(UUID), undefined, "not leased here: nothing to relay to");
    relay.leased(UUID, 3);
    const sink = relay.open(UUID)!;
    sink("one");
    sink("two");
    await new Promise((r) => setTimeout(r, 60));
    sink("three");
    await relay.finish(UUID);
    assert.deepEqual(
      sent.flatMap((s) => s.lines),
      ["one", "two", "three"],
    );
    assert.ok(sent.every((s) => s.generation === 3 && s.uuid === UUID && !s.truncated));
    assert.ok(sent.length >= 2, "batched per interval, not one call per line");
    assert.equal(relay.open(UUID), undefined, "forgotten after finish");
  });

  test("bounds a task's bytes and lines, then says truncated once", async () => {
    const { relay, sent } = relayWith(async () => undefined, { maxTaskBytes: 100, maxLineBytes: 40 });
    relay.leased(UUID, 1);
    const sink = relay.open(UUID)!;
    sink("x".repeat(1000));
    for (let i = 0; i < 50; i++) sink(`line ${i}`);
    await relay.finish(UUID);
    const lines = sent.flatMap((s) => s.lines);
    assert.ok(Buffer.byteLength(lines[0]!) <= 40, "a long line is cut");
    assert.match(lines[0]!, /\[…\]$/);
    assert.ok(lines.reduce((n, l) => n + Buffer.byteLength(l), 0) <= 100);
    assert.equal(sent.filter((s) => s.truncated).length, 1);
    assert.equal(sent.at(-1)!.truncated, true);
  });

  test("stops relaying once the lease is gone (9), and retries other failures", async () => {
    let failures = 0;
    const { relay, sent } = relayWith(async (s) => {
      if (s.lines.includes("retry") && failures === 0) {
        failures++;
        throw Object.assign(new Error("unavailable"), { code: 14 });
      }
      if (s.lines.includes("fenced")) throw Object.assign(new Error("lease"), { code: 9 });
    });
    relay.leased(UUID, 1);
    const sink = relay.open(UUID)!;
    sink("retry");
    await new Promise((r) => setTimeout(r, 150));
    sink("fenced");
    await new Promise((r) => setTimeout(r, 60));
    sink("after");
    await relay.finish(UUID);
    assert.deepEqual(
      sent.flatMap((s) => s.lines),
      ["retry"],
    );
    assert.equal(failures, 1);
  });
});
