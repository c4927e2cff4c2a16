// The node:http2 server transport against grpc-js's: every failure a client can see is checked on
// both servers (same code and details), and the wire details only our server produces (or that
// no client library sends) with a bare node:http2 client. Waits are generous upper bounds.
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { describe, test } from "node:test";
import { CloisterError, cloisterError, Status, silentLogger } from "@cloister/core";
import { health, storage } from "@cloister/proto";
import * as grpc from "@grpc/grpc-js";
import { MessageReader } from "../src/http2-framing.js";
import {
  type AttestedServer,
  attestedChannelCredentials,
  callUnary,
  createAttestedServer,
  createClient,
  type Handlers,
  type Layer,
  observedInterceptor,
  RpcError,
  type ServerTransport,
  serve,
  uniformPolicy,
} from "../src/index.js";
import { acceptOnly, framed, TestIdentity, within } from "./helpers.js";

const TRANSPORTS: ServerTransport[] = ["http2", "grpc-js"];
const key = (s: string) => ({ key: Buffer.from(s) });

const failure = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail("the call succeeded"),
    (e: unknown) => {
      assert.ok(e instanceof RpcError, String(e));
      return { code: e.code, details: e.details };
    },
  );

/** What the handlers of one endpoint saw. */
interface Seen {
  handlerRuns: number;
  cancelledSeen: number;
  streamsAborted: number;
  observed: { path: string; code: number }[];
  release: () => void;
}

/**
 * A storage service and a streaming health service registered with serve(), on `transport`;
 * `internal` endpoints need a client certificate (`clientIdentity`).
 */
async function endpoint(
  transport: ServerTransport,
  opts: { internal?: boolean; maxMessageBytes?: number; shutdownGraceMs?: number; admitLayer?: Layer } = {},
) {
  const identity = await TestIdentity.create("teaclave_storage_service");
  const clientIdentity = await TestIdentity.create("teaclave_frontend_service");
  const seen: Seen = { handlerRuns: 0, cancelledSeen: 0, streamsAborted: 0, observed: [], release: () => {} };
  const observe = (path: string, code: number) => seen.observed.push({ path, code });
  const server = createAttestedServer({
    identity,
    logger: silentLogger,
    transport,
    ...(opts.internal === false ? {} : { verifyClient: acceptOnly(clientIdentity) }),
    ...(opts.maxMessageBytes ? { maxMessageBytes: opts.maxMessageBytes } : {}),
    ...(opts.shutdownGraceMs ? { shutdownGraceMs: opts.shutdownGraceMs } : {}),
    interceptors: [
      observedInterceptor(
        (_method, call) =>
          new grpc.ServerInterceptingCall(call, {
            sendStatus: (status, next) => {
              observe(_method.path, status.code);
              next(status);
            },
          }),
        observe,
      ),
    ],
  });
  const handlers: Handlers<storage.TeaclaveStorageServer> = {
    get: async (req, ctx) => {
      seen.handlerRuns++;
      const k = req.key.toString();
      if (k === "typed") throw new CloisterError(Status.NOT_FOUND, "no such key ü %");
      if (k === "boom") throw new Error("secret=hunter2");
      if (k === "big") return { value: Buffer.alloc(4096) };
      if (k === "peer") return { value: Buffer.from(ctx.peer?.name ?? "none") };
      if (k === "meta") return { value: Buffer.from(String(ctx.metadata.get("x-blob-bin")[0]?.length)) };
      if (k === "wait") {
        await new Promise<void>((resolve) => {
          const poll = setInterval(() => {
            if (ctx.cancelled()) {
              seen.cancelledSeen++;
              done();
            }
          }, 5);
          const done = () => {
            clearInterval(poll);
            resolve();
          };
          seen.release = done;
        });
        return { value: Buffer.from("released") };
      }
      return { value: req.key };
    },
    put: async () => ({}),
    delete: async () => ({}),
    enqueue: async () => ({}),
    dequeue: async () => ({ value: Buffer.alloc(0) }),
    getKeysByPrefix: async () => ({ keys: [] }),
  };
  const policy = opts.internal === false ? "public" : "peer";
  serve<storage.TeaclaveStorageServer>(server, storage.TeaclaveStorageService, handlers, {
    layers: opts.admitLayer ? [opts.admitLayer] : [],
    policy: uniformPolicy(storage.TeaclaveStorageService, policy),
  });
  serve<health.HealthServer>(
    server,
    health.HealthService,
    {
      check: async () => ({ status: health.HealthCheckResponse_ServingStatus.SERVING }),
      async *watch(_req, ctx) {
        ctx.signal?.addEventListener("abort", () => seen.streamsAborted++);
        for (let i = 0; ; i++) {
          yield { status: health.HealthCheckResponse_ServingStatus.SERVING };
          if (ctx.signal?.aborted) return;
          await new Promise((r) => setTimeout(r, i < 3 ? 1 : 20));
        }
      },
    },
    { layers: [], policy: uniformPolicy(health.HealthService, policy) },
  );
  const port = await server.listen("127.0.0.1:0");
  const creds = attestedChannelCredentials({ verifyServer: acceptOnly(identity), identity: clientIdentity });
  const storageClient = createClient(storage.TeaclaveStorageClient, `localhost:${port}`, creds);
  const healthClient = createClient(health.HealthClient, `localhost:${port}`, creds);
  return {
    server,
    port,
    identity,
    seen,
    storageClient,
    healthClient,
    async close() {
      storageClient.close();
      healthClient.close();
      await server.close();
    },
  };
}

/** A bare node:http2 client of an API endpoint (no client certificate). */
function rawSession(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  session.on("error", () => {});
  return session;
}

interface RawResult {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  data: Buffer;
}

function rawCall(
  session: http2.ClientHttp2Session,
  path: string,
  body: Buffer | undefined,
  extra: http2.OutgoingHttpHeaders = {},
): Promise<RawResult> {
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    ...extra,
  });
  return new Promise((resolve, reject) => {
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const data: Buffer[] = [];
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (d: Buffer) => data.push(d));
    stream.on("error", reject);
    stream.on("close", () => resolve({ headers, trailers, data: Buffer.concat(data) }));
    stream.end(body);
  });
}

const GET = storage.TeaclaveStorageService.get.path;
const getBody = (k: string) => framed(storage.GetRequest.encode({ key: Buffer.from(k) }).finish());

// A bound on each test, so a call that never ends fails the test instead of hanging the suite.
const BOUND = { timeout: 60_000 };

describe("server transports: the same answers on node:http2 and grpc-js", BOUND, () => {
  test("success, typed and internal failures, peer, binary metadata, unknown method, metrics", async () => {
    const results: Record<string, unknown>[] = [];
    for (const transport of TRANSPORTS) {
      const ep = await endpoint(transport);
      try {
        assert.equal(ep.server.transport, transport);
        const ok = await callUnary(ep.storageClient, "get", key("hello"));
        const peer = await callUnary(ep.storageClient, "get", key("peer"));
        const md = new grpc.Metadata();
        md.set("x-blob-bin", Buffer.alloc(300, 7));
        const meta = await callUnary(ep.storageClient, "get", key("meta"), { metadata: md });
        const typed = await failure(callUnary(ep.storageClient, "get", key("typed")));
        const internal = await failure(callUnary(ep.storageClient, "get", key("boom")));
        const unknown = await failure(
          callUnary(
            createClient(
              grpc.makeGenericClientConstructor(
                { x: { ...storage.TeaclaveStorageService.get, path: "/nope.Service/X" } },
                "nope",
              ) as unknown as typeof storage.TeaclaveStorageClient,
              `localhost:${ep.port}`,
              attestedChannelCredentials({
                verifyServer: acceptOnly(ep.identity),
                identity: await TestIdentity.create("teaclave_frontend_service"),
              }),
            ),
            "x" as "get",
            key("k"),
          ),
        ).catch((e: unknown) => ({ code: -1, details: String(e) }));
        results.push({
          ok: ok.value.toString(),
          peer: peer.value.toString(),
          meta: meta.value.toString(),
          typed,
          internal,
          observed: ep.seen.observed.filter((o) => o.path === GET).map((o) => o.code),
        });
        assert.equal(typeof unknown.code, "number");
      } finally {
        await ep.close();
      }
    }
    assert.deepEqual(results[0], results[1]);
    assert.deepEqual(results[0], {
      ok: "hello",
      peer: "teaclave_frontend_service",
      meta: "300",
      typed: { code: Status.NOT_FOUND, details: "no such key ü %" },
      internal: { code: Status.INTERNAL, details: "service internal error" },
      observed: [0, 0, 0, Status.NOT_FOUND, Status.INTERNAL],
    });
  });

  test("deadline: 4 on the client, the handler sees ctx.cancelled(), the call is counted as 4", async () => {
    for (const transport of TRANSPORTS) {
      const ep = await endpoint(transport);
      try {
        const err = await failure(callUnary(ep.storageClient, "get", key("wait"), { deadlineMs: 150 }));
        assert.equal(err.code, Status.DEADLINE_EXCEEDED, transport);
        await within(
          5000,
          waitFor(() => ep.seen.cancelledSeen === 1),
          `${transport}: handler saw the deadline`,
        );
        // Our server's own deadline timer answered and was counted (grpc-js's skips interceptors).
        if (transport === "http2")
          assert.ok(
            ep.seen.observed.some((o) => o.code === Status.DEADLINE_EXCEEDED || o.code === Status.CANCELLED),
          );
      } finally {
        await ep.close();
      }
    }
  });

  test("cancel: a unary call's handler sees ctx.cancelled(); a stream's ctx.signal aborts when the client goes", async () => {
    for (const transport of TRANSPORTS) {
      const ep = await endpoint(transport);
      try {
        const call = ep.storageClient.get(key("wait"), () => {});
        await within(
          5000,
          waitFor(() => ep.seen.handlerRuns === 1),
          "handler started",
        );
        call.cancel();
        await within(
          5000,
          waitFor(() => ep.seen.cancelledSeen === 1),
          `${transport}: cancel seen`,
        );
        // A server stream whose client reads two messages and then cancels.
        const stream = ep.healthClient.watch({ service: "" });
        let got = 0;
        try {
          for await (const _ of stream) {
            got++;
            if (got === 2) stream.cancel();
          }
        } catch (e) {
          assert.equal((e as grpc.ServiceError).code, Status.CANCELLED);
        }
        await within(
          5000,
          waitFor(() => ep.seen.streamsAborted === 1),
          `${transport}: stream aborted`,
        );
        // The server still serves, and its calls-in-progress count went back down.
        assert.equal((await callUnary(ep.storageClient, "get", key("again"))).value.toString(), "again");
      } finally {
        await ep.close();
      }
    }
  });

  test("a stream whose client goes away (connection destroyed) aborts its ctx.signal", async () => {
    for (const transport of TRANSPORTS) {
      const ep = await endpoint(transport, { internal: false });
      try {
        const session = rawSession(ep.port);
        const stream = session.request({
          ":method": "POST",
          ":path": health.HealthService.watch.path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        stream.on("error", () => {});
        stream.end(framed(health.HealthCheckRequest.encode({ service: "" }).finish()));
        await within(5000, new Promise((resolve) => stream.once("data", resolve)), "first message");
        session.destroy();
        await within(
          5000,
          waitFor(() => ep.seen.streamsAborted === 1),
          `${transport}: stream aborted`,
        );
        assert.equal((await callUnary(ep.storageClient, "get", key("again"))).value.toString(), "again");
      } finally {
        await ep.close();
      }
    }
  });

  test("message limits: 8 for a request over the receive limit and a response over the send limit", async () => {
    const results: unknown[] = [];
    for (const transport of TRANSPORTS) {
      const ep = await endpoint(transport, { maxMessageBytes: 1024 });
      try {
        const before = ep.seen.handlerRuns;
        const tooLarge = await failure(
          callUnary(ep.storageClient, "put", { key: Buffer.from("k"), value: Buffer.alloc(2048) }),
        );
        assert.equal(ep.seen.handlerRuns, before);
        const responseTooLarge = await failure(callUnary(ep.storageClient, "get", key("big")));
        results.push({ tooLarge, responseTooLarge });
      } finally {
        await ep.close();
      }
    }
    assert.deepEqual(results[0], results[1]);
    const [first] = results as { tooLarge: { code: number }; responseTooLarge: { code: number } }[];
    assert.equal(first?.tooLarge.code, Status.RESOURCE_EXHAUSTED);
    assert.equal(first?.responseTooLarge.code, Status.RESOURCE_EXHAUSTED);
  });

  test("a client failing attestation never reaches a handler (14 on the client)", async () => {
    for (const transport of TRANSPORTS) {
      const ep = await endpoint(transport);
      try {
        const stranger = await TestIdentity.create("stranger");
        const client = createClient(
          storage.TeaclaveStorageClient,
          `localhost:${ep.port}`,
          attestedChannelCredentials({ verifyServer: acceptOnly(ep.identity), identity: stranger }),
        );
        const err = await failure(callUnary(client, "get", key("x"), { deadlineMs: 5000 }));
        client.close();
        assert.equal(err.code, Status.UNAVAILABLE, transport);
        assert.equal(ep.seen.handlerRuns, 0);
      } finally {
        await ep.close();
      }
    }
  });

  test("graceful close: a call in flight finishes, new connections are refused, close resolves", async () => {
    for (const transport of TRANSPORTS) {
      const ep = await endpoint(transport, { shutdownGraceMs: 10_000 });
      const pending = callUnary(ep.storageClient, "get", key("wait"));
      await within(
        5000,
        waitFor(() => ep.seen.handlerRuns === 1),
        "handler started",
      );
      const closing = ep.server.close();
      await new Promise((r) => setTimeout(r, 100));
      ep.seen.release();
      assert.equal((await pending).value.toString(), "released", transport);
      await within(10_000, closing, `${transport}: close`);
      const late = createClient(
        storage.TeaclaveStorageClient,
        `localhost:${ep.port}`,
        attestedChannelCredentials({
          verifyServer: acceptOnly(ep.identity),
          identity: await TestIdentity.create("teaclave_frontend_service"),
        }),
      );
      assert.equal(
        (await failure(callUnary(late, "get", key("x"), { deadlineMs: 3000 }))).code,
        Status.UNAVAILABLE,
      );
      late.close();
      await ep.close();
    }
  });

  test("forced close: a call still running after the grace period is cut", async () => {
    const codes: number[] = [];
    for (const transport of TRANSPORTS) {
      const ep = await endpoint(transport, { shutdownGraceMs: 200 });
      const pending = failure(callUnary(ep.storageClient, "get", key("wait")));
      await within(
        5000,
        waitFor(() => ep.seen.handlerRuns === 1),
        "handler started",
      );
      await within(5000, ep.server.close(), `${transport}: forced close`);
      codes.push((await within(5000, pending, "the cut call ends")).code);
      await within(
        5000,
        waitFor(() => ep.seen.cancelledSeen === 1),
        `${transport}: the handler saw the cut`,
      );
      await ep.close();
    }
    assert.deepEqual(codes[0], codes[1]);
  });

  test("admission refusal: its status, trailers-only, without reading the body (API endpoint)", async () => {
    for (const transport of TRANSPORTS) {
      let admitted = 0;
      const refuse: Layer = {
        name: "refuse",
        admit(ctx) {
          admitted++;
          if (ctx.identity.id === "refuse") throw cloisterError("INCORRECT_CREDENTIAL");
        },
      };
      const ep = await endpoint(transport, { internal: false, admitLayer: refuse });
      const session = rawSession(ep.port);
      try {
        const stream = session.request({
          ":method": "POST",
          ":path": GET,
          "content-type": "application/grpc",
          te: "trailers",
          id: "refuse",
        });
        stream.on("error", () => {});
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(4 << 20, 1);
        stream.write(prefix);
        const chunk = Buffer.alloc(64 * 1024, 0x41);
        for (let i = 0; i < 64; i++) stream.write(chunk);
        const headers = await within(
          5000,
          new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("response", resolve)),
          "status",
        );
        assert.equal(headers["grpc-status"], String(Status.UNAUTHENTICATED), transport);
        assert.equal(admitted, 1);
        assert.equal(ep.seen.handlerRuns, 0);
        // What the server never read stays queued in the client (flow control).
        assert.ok(
          stream.writableLength > 2 << 20,
          `${transport}: the server read ${4 << 20} - ${stream.writableLength}`,
        );
      } finally {
        session.destroy();
        await ep.close();
      }
    }
  });
});

async function waitFor(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 5));
}

describe("node:http2 server: wire details", BOUND, () => {
  async function api(): Promise<{ server: AttestedServer; port: number; close: () => Promise<void> }> {
    const ep = await endpoint("http2", { internal: false, maxMessageBytes: 1 << 20 });
    return { server: ep.server, port: ep.port, close: () => ep.close() };
  }

  test("a success: :status 200, application/grpc+proto, identity only, one message, grpc-status 0 in trailers", async () => {
    const ep = await api();
    const session = rawSession(ep.port);
    try {
      const r = await rawCall(session, GET, getBody("abc"));
      assert.equal(r.headers[":status"], 200);
      assert.equal(r.headers["content-type"], "application/grpc+proto");
      assert.equal(r.headers["grpc-accept-encoding"], "identity");
      assert.equal(r.trailers?.["grpc-status"], "0");
      assert.equal(r.trailers?.["grpc-message"], "OK");
      assert.deepEqual(storage.GetResponse.decode(r.data.subarray(5)).value, Buffer.from("abc"));
      assert.equal(r.data.readUInt32BE(1), r.data.length - 5);
    } finally {
      session.destroy();
      await ep.close();
    }
  });

  test("failures on the wire: trailers-only, as grpc-js words them", async () => {
    const ep = await api();
    const session = rawSession(ep.port);
    try {
      const cases: [string, Promise<RawResult>, number, string | RegExp][] = [
        [
          "unknown method",
          rawCall(session, "/a.B/C", getBody("x")),
          12,
          "The server does not implement the method /a.B/C",
        ],
        [
          "bad timeout",
          rawCall(session, GET, getBody("x"), { "grpc-timeout": "soon" }),
          13,
          'Invalid grpc-timeout value "soon"',
        ],
        [
          "compressed",
          rawCall(session, GET, framed(Buffer.from([1, 2, 3]), 1), { "grpc-encoding": "gzip" }),
          12,
          'Received message compressed with unsupported encoding "gzip"',
        ],
        ["no message", rawCall(session, GET, undefined), 12, /Received no request message/],
        [
          "two messages",
          rawCall(session, GET, Buffer.concat([getBody("a"), getBody("b")])),
          12,
          /Received a second request message/,
        ],
        ["undecodable", rawCall(session, GET, framed(Buffer.from([0xff, 0xff, 0xff]))), 3, /invalid request/],
        ["typed, percent-encoded", rawCall(session, GET, getBody("typed")), 5, "no such key ü %"],
      ];
      for (const [name, p, code, details] of cases) {
        const r = await within(5000, p, name);
        assert.equal(r.headers["grpc-status"], String(code), name);
        assert.equal(r.trailers, undefined, `${name}: trailers-only`);
        assert.equal(r.data.length, 0, `${name}: no DATA`);
        const text = decodeURIComponent(String(r.headers["grpc-message"]));
        if (typeof details === "string") assert.equal(text, details, name);
        else assert.match(text, details, name);
      }
      const plain = await rawCall(session, GET, getBody("x"), { "content-type": "text/plain" });
      assert.equal(plain.headers[":status"], 415);
    } finally {
      session.destroy();
      await ep.close();
    }
  });

  test("a large message's memory follows the bytes received, not its declared length", () => {
    const reader = new MessageReader(80 << 20);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(64 << 20, 1);
    const before = process.memoryUsage().arrayBuffers;
    assert.equal(
      reader.write(Buffer.concat([prefix, Buffer.alloc(1024)]), () => assert.fail()),
      undefined,
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 << 20, "the 64 MiB body was not allocated");
    assert.equal(reader.partial, true);
    const got: Buffer[] = [];
    const rest = Buffer.alloc((64 << 20) - 1024, 1);
    assert.equal(
      reader.write(rest, (m) => got.push(m)),
      undefined,
    );
    assert.equal(got[0]?.length, 64 << 20);
    assert.equal(reader.partial, false);
  });

  test("a plain grpc-js interceptor (no observer) keeps the server on grpc-js", async () => {
    const identity = await TestIdentity.create("x");
    const server = createAttestedServer({
      identity,
      transport: "http2",
      interceptors: [(_m, call) => new grpc.ServerInterceptingCall(call)],
    });
    assert.equal(server.transport, "grpc-js");
    const observed = createAttestedServer({
      identity,
      transport: "http2",
      interceptors: [
        observedInterceptor(
          (_m, call) => new grpc.ServerInterceptingCall(call),
          () => {},
        ),
      ],
    });
    assert.equal(observed.transport, "http2");
  });
});
