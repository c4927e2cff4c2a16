// Connection hygiene of the attested server (issue #14 item 10): slow-handshake, idle,
// over-the-cap and stalled-large clients, and the malformed-input guard. Counts are small and
// every wait is a generous upper bound on something that must happen, never a timing assertion.
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import * as tls from "node:tls";
import { CloisterError, Status, silentLogger } from "@cloister/core";
import { authentication, Empty, storage } from "@cloister/proto";
import * as grpc from "@grpc/grpc-js";
import {
  type AttestedServer,
  attestedChannelCredentials,
  callUnary,
  createAttestedServer,
  createClient,
  QueueFullError,
  RateLimiter,
  unary,
  WorkQueue,
} from "../src/index.js";
import { acceptOnly, startStorage, TestIdentity, type TestService, within } from "./helpers.js";

const closed = (s: net.Socket) =>
  new Promise<void>((resolve) => {
    if (s.destroyed) resolve();
    else s.once("close", () => resolve());
  });

const tcp = (port: number, localAddress?: string) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });

const tlsConnect = (port: number) =>
  new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["h2"] });
    s.once("secureConnect", () => resolve(s));
    s.once("error", reject);
  });

describe("connection hygiene", () => {
  let identity: TestIdentity;
  let svc: TestService;
  before(async () => {
    identity = await TestIdentity.create("server");
    svc = await startStorage({
      identity,
      logger: silentLogger,
      limits: {
        handshakeTimeoutMs: 300,
        prefaceTimeoutMs: 300,
        maxConnectionsPerPeer: 8,
        maxHandshakingPerPeer: 8,
      },
    });
  });
  after(() => svc.server.close());

  test("connections that never finish the TLS handshake are closed (20 clients)", async () => {
    const sockets = await Promise.all(Array.from({ length: 8 }, () => tcp(svc.port)));
    // One that starts a handshake and stops half-way (a partial ClientHello).
    const partial = await tcp(svc.port);
    partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    await within(
      10_000,
      Promise.all([...sockets, partial].map(closed)),
      "silent and partial handshakes closed",
    );
  });

  test("TLS connections that never send the HTTP/2 preface are closed", async () => {
    const sockets = await Promise.all(Array.from({ length: 6 }, () => tlsConnect(svc.port)));
    await within(10_000, Promise.all(sockets.map(closed)), "idle connections closed");
  });

  test("one address cannot take every slot: over its cap it is refused, another address is served", async () => {
    const hogs = await Promise.all(Array.from({ length: 8 }, () => tcp(svc.port, "127.0.0.2")));
    const extra = await tcp(svc.port, "127.0.0.2").catch(() => undefined);
    if (extra) await within(5_000, closed(extra), "the connection over the per-address cap is closed");
    // 127.0.0.1 still gets a full, verified call through while 127.0.0.2 is at its cap.
    const c = createClient(
      storage.TeaclaveStorageClient,
      `127.0.0.1:${svc.port}`,
      attestedChannelCredentials({ verifyServer: acceptOnly(identity) }),
    );
    try {
      const res = await callUnary(c, "get", { key: Buffer.from("k") }, { deadlineMs: 10_000 });
      assert.equal(res.value.toString(), "k");
    } finally {
      c.close();
      for (const h of hogs) h.destroy();
    }
  });
});

describe("request guard and stalled requests on API endpoints", () => {
  let identity: TestIdentity;
  let server: AttestedServer;
  let port: number;
  let handlerRuns = 0;

  before(async () => {
    identity = await TestIdentity.create("auth");
    server = createAttestedServer({ identity, logger: silentLogger });
    const ok = async () => {
      handlerRuns++;
      return Empty.fromPartial({});
    };
    // The authentication API's real service definition: its methods' limits (64 KiB) apply.
    const impl = {
      userRegister: ok,
      userUpdate: ok,
      userLogin: async () => ({ token: "t" }),
      userChangePassword: ok,
      resetUserPassword: async () => ({ password: "p" }),
      deleteUser: ok,
      listUsers: async () => ({ ids: [] }),
    };
    server.addService(
      authentication.TeaclaveAuthenticationApiService,
      Object.fromEntries(Object.entries(impl).map(([k, f]) => [k, unary(f)])),
      {
        // A stand-in for the frontend's credential check: `id: stall` never completes.
        admit: async ({ metadata }) => {
          const id = metadata.get("id")[0];
          if (id === "stall") await new Promise(() => {});
          if (id === "refuse") throw new CloisterError(Status.UNAUTHENTICATED, "missing user id");
        },
      },
    );
    port = await server.listen("127.0.0.1:0");
  });
  after(() => server.close());

  /** A raw HTTP/2 stream to `method` declaring a `declared`-byte message and sending `send` of it. */
  async function rawCall(method: string, id: string, declared: number, send: number) {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": `/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
      id,
    });
    stream.on("error", () => {});
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(declared, 1);
    stream.write(prefix);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    for (let sent = 0; sent < send; sent += chunk.length) stream.write(chunk);
    // The status arrives while the client is still sending: resolve on it, not on close.
    const status = new Promise<string | undefined>((resolve) => {
      const seen = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) resolve(h["grpc-status"] as string);
      };
      stream.on("response", seen);
      stream.on("trailers", seen);
      stream.on("close", () => resolve(undefined));
    });
    return { session, stream, status };
  }

  test("a stalled unadmitted stream cannot make the server read its 16 MiB body", async () => {
    const calls = await Promise.all(
      Array.from({ length: 4 }, () => rawCall("UserLogin", "stall", 16 << 20, 16 << 20)),
    );
    await new Promise((r) => setTimeout(r, 500));
    for (const { session, stream } of calls) {
      // Flow control: what the server did not read stays queued in the client.
      const flushed = 16 * 1024 * 1024 + 5 - stream.writableLength;
      assert.ok(flushed < 1024 * 1024, `server accepted ${flushed} bytes of a stalled request`);
      session.destroy();
    }
  });

  test("a message declared larger than the method's limit is refused (8) as soon as its prefix arrives", async () => {
    const { session, status } = await rawCall("UserLogin", "", 16 << 20, 0);
    assert.equal(await within(10_000, status, "status"), String(Status.RESOURCE_EXHAUSTED));
    session.destroy();
  });

  test("a refused admission answers with its status without reading the body", async () => {
    const { session, status } = await rawCall("UserLogin", "refuse", 60_000, 0);
    assert.equal(await within(10_000, status, "status"), String(Status.UNAUTHENTICATED));
    session.destroy();
  });

  test("undecodable, oversized and overlong requests are 3 INVALID_ARGUMENT; the handler never runs", async () => {
    const c = new grpc.Client(
      `127.0.0.1:${port}`,
      attestedChannelCredentials({ verifyServer: acceptOnly(identity) }),
    );
    const send = (method: string, body: Buffer) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        c.makeUnaryRequest(
          `/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/${method}`,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          new grpc.Metadata(),
          {},
          (err) => resolve(err),
        ),
      );
    const before = handlerRuns;
    try {
      const overlongId = authentication.UserLoginRequest.encode({
        id: "x".repeat(300),
        password: "p",
      }).finish();
      for (const body of [Buffer.from([0x0f]), Buffer.from([0x0a, 0xff, 0x01]), Buffer.from(overlongId)]) {
        const err = await send("UserLogin", body);
        assert.equal(err?.code, Status.INVALID_ARGUMENT, err?.details);
        assert.ok(!err?.details.includes("xxxx"));
      }
      assert.equal(await send("UserLogin", Buffer.alloc(0)), null, "an empty request decodes");
      assert.equal(handlerRuns, before);
    } finally {
      c.close();
    }
  });
});

describe("rate limiter and work queue", () => {
  test("token buckets refill at their rate and the table stays bounded", () => {
    let now = 0;
    const r = new RateLimiter(2, 3, 100, () => now);
    assert.deepEqual(
      [1, 2, 3, 4].map(() => r.take("a")),
      [true, true, true, false],
    );
    now += 500;
    assert.equal(r.take("a"), true);
    assert.equal(r.take("a"), false);
    for (let i = 0; i < 1000; i++) r.take(`k${i}`);
    assert.ok((r as unknown as { buckets: Map<string, unknown> }).buckets.size <= 100);
  });

  test("the queue runs at most `concurrency` jobs and refuses beyond its length", async () => {
    const q = new WorkQueue(1, 2);
    let running = 0;
    let most = 0;
    const job = () =>
      q.run(async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return 1;
      });
    const results = await Promise.allSettled([job(), job(), job(), job()]);
    assert.equal(most, 1);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "fulfilled", "fulfilled", "rejected"],
    );
    assert.ok((results[3] as PromiseRejectedResult).reason instanceof QueueFullError);
  });
});
