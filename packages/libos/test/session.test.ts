import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  BwrapBackend,
  GuestSession,
  GvisorBackend,
  isLibosError,
  type LibosBackend,
  leftoverCgroups,
  verifyTaskEvidence,
} from "../src/index.js";
import { type NodeTrust, nodeTrust, prepared, sessionOptions } from "./support.js";

const FIXTURES = new URL("../../test/fixtures/", import.meta.url).pathname;
const limits = { memoryBytes: 256 << 20, tmpfsBytes: 16 << 20, processes: 64 };

function goPayload(name: string): Buffer {
  const out = join(mkdtempSync(join(tmpdir(), "cloister-go-")), name);
  execFileSync("go", ["build", "-o", out, join(FIXTURES, `${name}.go`)], {
    env: {
      ...process.env,
      CGO_ENABLED: "0",
      GO111MODULE: "off",
      GOCACHE: join(tmpdir(), "cloister-go-cache"),
    },
  });
  return readFileSync(out);
}

const spec = (argv: string[], outputs: string[] = []) =>
  Buffer.from(
    JSON.stringify({
      argv,
      env: {},
      inputs: [],
      outputs,
      result: "stdout",
      limits: {
        cpuSeconds: 10,
        processes: 32,
        stdoutBytes: 1 << 20,
        outputBytes: 1 << 20,
        stderrBytes: 1 << 16,
        fileSizeBytes: 16 << 20,
        addressSpaceMib: 0,
      },
    }),
  );

for (const kind of ["gvisor", "bwrap"] as const) {
  describe(`${kind}: one attested task`, () => {
    let t: NodeTrust;
    let backend: LibosBackend;
    let echo: Buffer;
    before(async () => {
      t = await nodeTrust();
      const stateDir = join(t.dataDir, "state");
      backend = kind === "gvisor" ? new GvisorBackend({ stateDir }) : new BwrapBackend({ stateDir });
      echo = goPayload("echo");
    });
    after(async () => {
      await backend.close();
      t.identity.close();
    });

    test("runs a static Go payload, commits before inputs, signs the result; evidence verifies", async () => {
      const p = await prepared(backend, "static", t);
      await backend.probe(p.image);
      const opts = sessionOptions(p, t);
      const instance = await backend.launch(p, limits);
      try {
        const session = await GuestSession.open(instance, opts);
        const r = await session.run({
          taskId: "task-1",
          payload: echo,
          spec: spec(["/app/main", "k", "v"], ["data.up"]),
          inputs: new Map([["data", Buffer.from("secret rows")]]),
        });
        assert.equal(r.exit, 0, r.stderr.toString());
        assert.equal(r.stdout.toString(), "k v");
        assert.equal(r.outputs.get("data.up")?.toString(), "SECRET ROWS");
        const v = verifyTaskEvidence(r.evidence, opts.trust, { taskId: "task-1" });
        assert.equal(v.measurement, p.measurement);
        assert.equal(v.simulated, true);
        assert.throws(
          () => verifyTaskEvidence(r.evidence, opts.trust, { taskId: "task-2" }),
          (e) => isLibosError(e, "evidence"),
        );
        const tampered = { ...r.evidence, result: { ...r.evidence.result, exit: 1 } };
        assert.throws(
          () => verifyTaskEvidence(tampered, opts.trust, { taskId: "task-1" }),
          (e) => isLibosError(e, "evidence"),
        );
      } finally {
        await instance.kill();
      }
      // Other tests run instances at the same time: only this one's cgroups must be gone.
      assert.deepEqual(
        leftoverCgroups().filter((d) => d.endsWith(instance.id)),
        [],
      );
    });

    test("the payload's stderr lines reach the node while it runs, bounded", async () => {
      const p = await prepared(backend, "static", t);
      const opts = sessionOptions(p, t);
      const logger = goPayload("logger");
      // Waits for ever after its lines: it ends only because the node kills it on the first line.
      let instance = await backend.launch(p, limits);
      const seen: string[] = [];
      try {
        const session = await GuestSession.open(instance, opts);
        const running = session.run({
          taskId: "task-live",
          payload: logger,
          spec: spec(["/app/main", "wait"]),
          inputs: new Map(),
          onLog: (line) => {
            seen.push(line);
            if (seen.length === 1) void instance.kill();
          },
        });
        await assert.rejects(running, (e) => isLibosError(e));
        assert.equal(seen[0], "first line");
      } finally {
        await instance.kill();
      }
      instance = await backend.launch(p, limits);
      try {
        const session = await GuestSession.open(instance, opts);
        const lines: string[] = [];
        const r = await session.run({
          taskId: "task-lines",
          payload: logger,
          spec: spec(["/app/main"]),
          inputs: new Map(),
          onLog: (line) => lines.push(line),
        });
        assert.equal(r.stdout.toString(), "done");
        assert.equal(lines.length, 3);
        assert.equal(lines[0], "first line");
        assert.equal(lines[1], `${"x".repeat(16 * 1024)} […]`);
        assert.equal(lines[2], "no newline");
        // The whole stderr still comes with the (signed) result.
        assert.equal(r.stderr.length, "first line\n".length + 40001 + "no newline".length);
      } finally {
        await instance.kill();
      }
    });
  });
}

describe("gvisor: what the node and the agent refuse", () => {
  let t: NodeTrust;
  const backend = new GvisorBackend({ stateDir: join(tmpdir(), `cloister-libos-neg-${process.pid}`) });
  before(async () => {
    t = await nodeTrust();
  });
  after(async () => {
    await backend.close();
    t.identity.close();
  });

  test("a payload other than the offered hash: the agent refuses before any input", async () => {
    const p = await prepared(backend, "static", t);
    const instance = await backend.launch(p, limits);
    try {
      const session = await GuestSession.open(instance, sessionOptions(p, t));
      await assert.rejects(
        session.run({
          taskId: "t",
          payload: Buffer.from("tampered"),
          expectedPayloadSha256: Buffer.alloc(32, 1),
          spec: spec(["/app/main"]),
          inputs: new Map([["secret", Buffer.from("never sent")]]),
        }),
        (e) => isLibosError(e, "payload-hash"),
      );
    } finally {
      await instance.kill();
    }
  });

  test("an agent whose measurement is not in the signed list is not trusted", async () => {
    const p = await prepared(backend, "static", t);
    const opts = sessionOptions(p, t);
    opts.trust = {
      ...opts.trust,
      accepted: [{ name: opts.runtimeName, mrEnclave: Buffer.alloc(32, 2), mrSigner: t.mrSigner }],
    };
    const instance = await backend.launch(p, limits);
    try {
      await assert.rejects(GuestSession.open(instance, opts), (e) => isLibosError(e, "evidence"));
    } finally {
      await instance.kill();
    }
  });

  test("a node not attested under the agent's root gets no TLS session", async () => {
    const p = await prepared(backend, "static", t);
    const opts = sessionOptions(p, t);
    // Same code, but endorsed by another (rogue) attestation service.
    const rogue = await nodeTrust();
    const c = rogue.identity.current();
    opts.credentials = { privateKeyPem: c.privateKeyPem, certificatePem: c.certificatePem };
    const instance = await backend.launch(p, limits);
    try {
      // TLS 1.3: the client's handshake completes before the server has judged its certificate,
      // so the refusal surfaces at the first message — before any input could be sent.
      await assert.rejects(
        (async () => {
          const session = await GuestSession.open(instance, opts);
          await session.run({
            taskId: "t",
            payload: Buffer.from("x"),
            spec: spec(["/app/main"]),
            inputs: new Map(),
          });
        })(),
        (e) => isLibosError(e),
      );
    } finally {
      await instance.kill();
      rogue.identity.close();
    }
  });
});
