/**
 * Protocol fuzzing through the real attested channel: every TeaclaveFrontend and
 * TeaclaveAuthenticationApi RPC receives garbage and mutated encodings (bounded, seeded), with
 * and without valid credentials, plus the oversized fields of the attack run. Every answer must
 * carry a grpc-status that is neither INTERNAL nor UNKNOWN (a missing status surfaces in grpc-js
 * as one of those), oversized fields must be refused with 3 without echoing the input, and an
 * innocent client must be served throughout.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { authentication, frontend } from "@cloister/proto";
import { attestedChannelCredentials, identityMetadata, MAX_API_REQUEST_BYTES } from "@cloister/rpc";
import { type CloisterClient, policyFor, trustFromDataDir } from "@cloister/sdk";
import { verifyAttestedCertificate } from "@cloister/tee";
import * as grpc from "@grpc/grpc-js";
import type { Platform } from "../src/index.js";
import { launch, session } from "./support.js";

type Definition = Record<
  string,
  { path: string; requestSerialize: (v: never) => Buffer; requestDeserialize: (b: Buffer) => unknown }
>;

const FRONTEND = frontend.TeaclaveFrontendService as unknown as Definition;
const AUTH = authentication.TeaclaveAuthenticationApiService as unknown as Definition;
const NO_TASK = "task-00000000-0000-4000-8000-000000000000";
const NO_FN = "function-00000000-0000-4000-8000-000000000000";
const NO_IN = "input-00000000-0000-4000-8000-000000000000";

/** A well-formed request per RPC (naming nothing that exists), the seed of the mutations. */
const SEEDS: Record<string, object> = {
  registerInputFile: { url: "https://h/in", cmac: Buffer.alloc(16), cryptoInfo: { schema: "raw" } },
  registerOutputFile: { url: "https://h/out", cryptoInfo: { schema: "raw" } },
  updateInputFile: { dataId: NO_IN, url: "https://h/x" },
  updateOutputFile: { dataId: NO_IN, url: "https://h/x" },
  registerFusionOutput: { ownerList: ["a", "b"] },
  registerInputFromOutput: { dataId: NO_IN },
  getOutputFile: { dataId: NO_IN },
  getInputFile: { dataId: NO_IN },
  registerFunction: { name: "f", executorType: "builtin", arguments: [{ key: "k" }], userAllowlist: ["u"] },
  getFunction: { functionId: NO_FN },
  getFunctionUsageStats: { functionId: NO_FN },
  updateFunction: { functionId: NO_FN, name: "f", executorType: "builtin" },
  listFunctions: { userId: "nobody" },
  deleteFunction: { functionId: NO_FN },
  disableFunction: { functionId: NO_FN },
  createTask: { functionId: NO_FN, functionArguments: "{}", executor: "builtin" },
  getTask: { taskId: NO_TASK },
  assignData: { taskId: NO_TASK, inputs: [{ dataName: "in", dataId: NO_IN }] },
  approveTask: { taskId: NO_TASK },
  invokeTask: { taskId: NO_TASK },
  cancelTask: { taskId: NO_TASK },
  queryAuditLogs: { query: "nothing-matches-this", limit: 1 },
  userRegister: { id: "", password: "p", role: "Nope" },
  userUpdate: { id: "ghost", password: "p", role: "DataOwner", attribute: "x" },
  userLogin: { id: "ghost", password: "p" },
  userChangePassword: { password: "" },
  resetUserPassword: { id: "ghost" },
  deleteUser: { id: "ghost" },
  listUsers: { id: "" },
};

/** The generated encoder needs every field set: fill the partial request in first. */
function encode(def: Definition, name: string, partial: object): Buffer {
  const ns = (def === FRONTEND ? frontend : authentication) as unknown as Record<
    string,
    { fromPartial(o: object): never }
  >;
  const type = ns[`${name[0]!.toUpperCase()}${name.slice(1)}Request`]!;
  return def[name]!.requestSerialize(type.fromPartial(partial));
}

/** A small seeded PRNG (mulberry32): the same run every time. */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
/** A length-delimited protobuf field. */
const field = (n: number, body: Buffer) => Buffer.concat([varint((n << 3) | 2), varint(body.length), body]);

/** Mutations of a valid encoding: each is something a hostile client could send. */
function mutations(seed: Buffer, rnd: () => number): Buffer[] {
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const flip = () => {
    const b = Buffer.from(seed);
    for (let i = 0; i < 3 && b.length > 0; i++)
      b[Math.floor(rnd() * b.length)]! ^= 1 << Math.floor(rnd() * 8);
    return b;
  };
  return [
    bytes(1 + Math.floor(rnd() * 64)),
    bytes(1 + Math.floor(rnd() * 2048)),
    flip(),
    flip(),
    seed.subarray(0, Math.max(0, seed.length - 1 - Math.floor(rnd() * 4))),
    Buffer.concat([seed, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f])]), // length far past the end
    Buffer.concat([
      seed,
      Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ]), // varint overflow
    Buffer.from([0x0b, 0x0c]), // group wire types
    Buffer.from([0x0f]), // wire type 7
    field(1, bytes(1 + Math.floor(rnd() * 32))), // field 1 with bytes that are not UTF-8
    field(3, field(1, bytes(16))), // nested garbage
    Buffer.concat([seed, seed]), // repeated fields concatenated
  ];
}

type Answer = { code: number; details: string };

let platform: Platform;
let admin: CloisterClient;
let channels: grpc.Client[] = [];

function rawClient(address: string, enclave: string): grpc.Client {
  const policy = policyFor(trustFromDataDir(platform.dataDir), enclave);
  const c = new grpc.Client(
    address,
    attestedChannelCredentials({ verifyServer: (der: Buffer) => verifyAttestedCertificate(der, policy) }),
    { "grpc.max_send_message_length": 64 * 1024 * 1024, "grpc.max_receive_message_length": 64 * 1024 * 1024 },
  );
  channels.push(c);
  return c;
}

/** Sends raw request bytes to `path`; resolves with the status (OK for a response). */
function send(c: grpc.Client, path: string, body: Buffer, metadata: grpc.Metadata): Promise<Answer> {
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      metadata,
      { deadline: Date.now() + 60_000 },
      (err) => resolve(err ? { code: err.code ?? -1, details: err.details ?? "" } : { code: 0, details: "" }),
    );
  });
}

before(async () => {
  platform = await launch();
  admin = await session(platform, "admin", "teaclave");
});

after(async () => {
  for (const c of channels) c.close();
  channels = [];
  admin?.close();
  await platform?.stop();
});

describe("protocol fuzzing over the attested channel (issue #14 items 8, 9)", () => {
  test("the limits table names every public RPC", () => {
    assert.deepEqual(
      Object.keys(SEEDS).sort(),
      [...Object.keys(FRONTEND), ...Object.keys(AUTH)].sort(),
      "one seed per RPC",
    );
  });

  test("garbage and mutated requests to every RPC: always a status, never INTERNAL/UNKNOWN", async () => {
    const fe = rawClient(platform.frontend, "teaclave_frontend_service");
    const au = rawClient(platform.authentication, "teaclave_authentication_service");
    const creds = identityMetadata(admin.session ?? {});
    const rnd = prng(14);
    const seen = new Map<number, number>();
    const bad: string[] = [];
    let sent = 0;
    for (const [def, c] of [
      [FRONTEND, fe],
      [AUTH, au],
    ] as const) {
      for (const [name, method] of Object.entries(def)) {
        const seed = encode(def, name, SEEDS[name] as object);
        const bodies = mutations(seed, rnd);
        // Each body with admin credentials (so it reaches decoding and the services), and the
        // first few without (the credential path).
        const jobs = [
          ...bodies.map((b) => send(c, method.path, b, creds.clone())),
          ...bodies.slice(0, 3).map((b) => send(c, method.path, b, new grpc.Metadata())),
        ];
        const answers = await Promise.all(jobs);
        sent += answers.length;
        for (const [i, a] of answers.entries()) {
          seen.set(a.code, (seen.get(a.code) ?? 0) + 1);
          if (a.code === grpc.status.INTERNAL || a.code === grpc.status.UNKNOWN || a.code < 0)
            bad.push(`${name} #${i}: ${a.code} ${a.details}`);
        }
      }
    }
    assert.ok(sent >= 300, `sent ${sent}`);
    assert.deepEqual(bad, []);
    assert.ok((seen.get(grpc.status.INVALID_ARGUMENT) ?? 0) > 100, JSON.stringify([...seen]));
    // And the platform still serves ordinary calls.
    assert.ok(await admin.call("listFunctions", { userId: "admin" }));
  });

  test("oversized fields of the attack run: 3 INVALID_ARGUMENT at once, input not echoed", async () => {
    const fe = rawClient(platform.frontend, "teaclave_frontend_service");
    const creds = identityMetadata(admin.session ?? {});
    const big = "Z".repeat(1024 * 1024);
    const cases: [string, object][] = [
      ["updateInputFile", { dataId: big, url: "https://h/x" }],
      ["updateOutputFile", { dataId: big, url: "https://h/x" }],
      ["assignData", { taskId: NO_TASK, inputs: [{ dataName: "in", dataId: big }] }],
      ["registerFunction", { name: "f", executorType: big }],
      ["updateFunction", { functionId: NO_FN, executorType: big }],
      ["createTask", { functionId: NO_FN, functionArguments: "{}", executor: big }],
      ["registerInputFile", { url: "https://h/x", cmac: Buffer.alloc(16), cryptoInfo: { schema: big } }],
      ["registerOutputFile", { url: "https://h/x", cryptoInfo: { schema: big } }],
      ["queryAuditLogs", { query: big, limit: 1 }],
      ["getTask", { taskId: "Z".repeat(20_000) }],
      [
        "registerFunction",
        {
          name: "f",
          executorType: "builtin",
          userAllowlist: Array.from({ length: 3000 }, (_, i) => `u${i}`),
        },
      ],
    ];
    // An innocent client's call in the middle of it all is answered.
    const innocent = admin
      .call("getFunctionUsageStats", { functionId: NO_FN })
      .catch((e: { code: number }) => e.code);
    const answers = await Promise.all(
      cases.map(([name, req]) => send(fe, FRONTEND[name]!.path, encode(FRONTEND, name, req), creds.clone())),
    );
    for (const [i, a] of answers.entries()) {
      const what = `${cases[i]![0]} #${i}`;
      assert.equal(a.code, grpc.status.INVALID_ARGUMENT, `${what}: ${a.code} ${a.details.slice(0, 100)}`);
      assert.match(a.details, /^invalid request: (field \w+ |message larger than)/, what);
      assert.ok(!a.details.includes("ZZZZ") && a.details.length < 200, what);
    }
    assert.equal(await innocent, 3, "the innocent call got its ordinary answer (invalid function id)");
    // The largest request the API accepts is the frontend's function payload.
    assert.ok(MAX_API_REQUEST_BYTES >= 15 * 1024 * 1024);
  });

  test("unauthenticated streams declaring 16 MiB are refused without their body being read", async () => {
    const session = http2.connect(`https://${platform.frontend}`, { rejectUnauthorized: false });
    session.on("error", () => {});
    try {
      const streams = Array.from({ length: 8 }, () => {
        const stream = session.request({
          ":method": "POST",
          ":path": FRONTEND.registerFunction!.path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        stream.on("error", () => {});
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(16 * 1024 * 1024 - 1, 1);
        stream.write(prefix);
        const chunk = Buffer.alloc(256 * 1024, 0x41);
        for (let i = 0; i < 64; i++) stream.write(chunk);
        const status = new Promise<string | undefined>((resolve) => {
          const seen = (h: http2.IncomingHttpHeaders) => {
            if (h["grpc-status"] !== undefined) resolve(h["grpc-status"] as string);
          };
          stream.on("response", seen);
          stream.on("trailers", seen);
          stream.on("close", () => resolve(undefined));
        });
        return { stream, status };
      });
      // An authenticated client is served meanwhile.
      assert.ok(await admin.call("listFunctions", { userId: "admin" }));
      for (const { status } of streams) {
        // Refused at admission: 16 when the status frame wins, else the stream is reset while
        // the client still pushes its body (README: known limitation). Never anything else.
        const code = await status;
        assert.ok(code === "16" || code === undefined, `status ${code}`);
      }
      // HTTP/2 flow control held the bodies back: the 8 × 16 MiB never left the client.
      const sent = session.socket.bytesWritten;
      assert.ok(sent < 4 * 1024 * 1024, `the client could send ${sent} bytes in all`);
    } finally {
      session.destroy();
    }
  });
});

describe("message limits of the internal hops (issue #14 item 11)", () => {
  // 6 MiB: stored records write bytes as JSON number arrays (~3.2×), so this record (~19 MiB)
  // already failed on the old 16 MiB hops. The full 15 MiB case passes too but takes ~90 s on
  // two shared cores (JSON of the records on every hop), too long for `npm test`.
  test("a 6 MiB function payload is accepted, stored, returned and run through every hop", async () => {
    const payload = Buffer.alloc(6 * 1024 * 1024, 0x61);
    const functionId = await admin.registerFunction({
      name: "builtin-echo",
      arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
      payload,
    });
    const got = await admin.call("getFunction", { functionId });
    assert.equal(Buffer.from(got.payload).length, payload.length);
    const taskId = await admin.createTask({ functionId, arguments: { message: "big" }, executor: "builtin" });
    await admin.invokeTask(taskId);
    assert.equal((await admin.taskResult(taskId, { timeoutMs: 60_000 })).toString(), "big");
  });
});
