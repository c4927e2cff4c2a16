// The node:http2 client transport against real servers: grpc-js servers from createAttestedServer
// (each behaviour compared with the grpc-js client where both must agree) and, for the wire
// details and the failures grpc-js never produces, a bare node:http2 TLS server.
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from "node:net";
import { test } from "node:test";
import * as tls from "node:tls";
import { Status } from "@cloister/core";
import { extensions, storage } from "@cloister/proto";
import * as grpc from "@grpc/grpc-js";
import {
  attestedChannelCredentials,
  type ClientOptions,
  type ClientTransport,
  callUnary,
  createAttestedServer,
  createClient,
  RpcError,
  serve,
} from "../src/index.js";
import { acceptOnly, framed, startStorage, TestIdentity } from "./helpers.js";

const TRANSPORTS: ClientTransport[] = ["grpc-js", "http2"];
const GET = "/teaclave_storage_service_proto.TeaclaveStorage/Get";

async function failure(p: Promise<unknown>): Promise<RpcError> {
  const e = await p.then(
    () => assert.fail("call unexpectedly succeeded"),
    (err: unknown) => err,
  );
  assert.ok(e instanceof RpcError, `expected RpcError, got ${String(e)}`);
  return e;
}

function storageClient(
  port: number,
  identity: TestIdentity,
  opts: ClientOptions = {},
  credentials = attestedChannelCredentials({ verifyServer: acceptOnly(identity) }),
): storage.TeaclaveStorageClient {
  return createClient(storage.TeaclaveStorageClient, `127.0.0.1:${port}`, credentials, {
    transport: "http2",
    ...opts,
  });
}

const key = (k: string) => ({ key: Buffer.from(k) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const getResponse = (value: string) =>
  framed(storage.GetResponse.encode({ value: Buffer.from(value) }).finish());

/** A bare HTTP/2 TLS server with the attested test certificate: the test writes every frame itself. */
async function rawServer(
  identity: TestIdentity,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, n: number) => void,
) {
  const { privateKeyPem: key, certificatePem: cert } = identity.current();
  const server = http2.createSecureServer({ key, cert, ALPNProtocols: ["h2"] });
  const sessions: http2.ServerHttp2Session[] = [];
  const sockets: tls.TLSSocket[] = [];
  server.on("secureConnection", (s: tls.TLSSocket) => sockets.push(s));
  let streams = 0;
  server.on("session", (s) => {
    sessions.push(s);
    s.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    onStream(stream, headers, ++streams);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Answers every call with `value` after the request has been read, status in trailers. */
function answer(stream: http2.ServerHttp2Stream, value: string, delayMs = 0): void {
  stream.resume();
  stream.on("end", () =>
    setTimeout(() => {
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(getResponse(value));
    }, delayMs),
  );
}

/** A loopback port nothing listens on (bound once by the system, then closed). */
async function unusedPort(): Promise<number> {
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
test("request headers and message framing are gRPC's", async () => {
  const id = await TestIdentity.create("s");
  let seen: { headers: http2.IncomingHttpHeaders; body: Buffer } | undefined;
  const raw = await rawServer(id, (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      seen = { headers, body: Buffer.concat(chunks) };
    });
    answer(stream, "ok");
  });
  const client = storageClient(raw.port, id);
  try {
    const md = new grpc.Metadata();
    md.set("x-user", "alice");
    md.set("x-data-bin", Buffer.from([0, 1, 2, 255]));
    assert.equal(
      (await callUnary(client, "get", key("k1"), { metadata: md, deadlineMs: 5000 })).value.toString(),
      "ok",
    );
    const h = seen!.headers;
    assert.equal(h[":method"], "POST");
    assert.equal(h[":path"], GET);
    assert.equal(h[":scheme"], "https");
    assert.equal(h["content-type"], "application/grpc");
    assert.equal(h.te, "trailers");
    assert.match(String(h["user-agent"]), /\S/);
    assert.equal(h["grpc-accept-encoding"], "identity");
    assert.match(String(h["grpc-timeout"]), /^\d{1,8}m$/);
    assert.ok(Number.parseInt(String(h["grpc-timeout"]), 10) <= 5000);
    assert.equal(h["x-user"], "alice");
    assert.equal(h["x-data-bin"], Buffer.from([0, 1, 2, 255]).toString("base64"));
    const body = seen!.body;
    assert.equal(body[0], 0, "not compressed");
    assert.equal(body.readUInt32BE(1), body.length - 5);
    assert.equal(Buffer.from(storage.GetRequest.decode(body.subarray(5)).key).toString(), "k1");
  } finally {
    client.close();
    await raw.close();
  }
});

test("metadata, deadline, statuses and trailing metadata with a grpc-js server match the grpc-js client", async () => {
  const id = await TestIdentity.create("teaclave_storage_service");
  const server = createAttestedServer({ identity: id });
  server.addService(storage.TeaclaveStorageService, {
    get: (
      call: grpc.ServerUnaryCall<storage.GetRequest, storage.GetResponse>,
      cb: grpc.sendUnaryData<storage.GetResponse>,
    ) => {
      const k = Buffer.from(call.request.key).toString();
      const bin = call.metadata.get("x-data-bin")[0] as Buffer;
      const deadline = call.getDeadline();
      const left = deadline instanceof Date ? deadline.getTime() - Date.now() : Number(deadline) - Date.now();
      if (k === "fail") {
        const trailer = new grpc.Metadata();
        trailer.set("x-why", "because");
        return cb({ code: Status.NOT_FOUND, details: "no such key: café 100% ✓", metadata: trailer });
      }
      cb(null, {
        value: Buffer.from(
          `${call.metadata.get("x-user")[0]}|${bin.toString("hex")}|${left > 0 && left <= 5000}`,
        ),
      });
    },
    put: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
    delete: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  });
  const port = await server.listen("127.0.0.1:0");
  try {
    for (const transport of TRANSPORTS) {
      const client = storageClient(port, id, { transport });
      const md = new grpc.Metadata();
      md.set("x-user", "bob");
      md.set("x-data-bin", Buffer.from([9, 8, 7]));
      const ok = await callUnary(client, "get", key("k"), { metadata: md, deadlineMs: 5000 });
      assert.equal(ok.value.toString(), "bob|090807|true", transport);
      const err = await failure(callUnary(client, "get", key("fail"), { metadata: md }));
      assert.equal(err.code, Status.NOT_FOUND, transport);
      assert.equal(err.details, "no such key: café 100% ✓", transport);
      assert.deepEqual(err.metadata.get("x-why"), ["because"], transport);
      client.close();
    }
  } finally {
    await server.close();
  }
});

test("status from trailers after a message or from trailers-only headers; percent-decoded; HTTP failures", async () => {
  const id = await TestIdentity.create("s");
  const raw = await rawServer(id, (stream, _headers, n) => {
    stream.resume();
    if (n === 1) {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () =>
        stream.sendTrailers({ "grpc-status": "5", "grpc-message": "caf%C3%A9%20100%25", "x-t": "v" }),
      );
      stream.end(getResponse("ignored"));
    } else if (n === 2) {
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": "7",
          "grpc-message": "no%E2%9C%93",
        },
        { endStream: true },
      );
    } else if (n === 3) stream.respond({ ":status": 503 }, { endStream: true });
    else if (n === 4)
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { endStream: true });
    else {
      // Data then the end of the stream with no trailers at all.
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.end(getResponse("x"));
    }
  });
  const client = storageClient(raw.port, id);
  try {
    const trailers = await failure(callUnary(client, "get", key("a")));
    assert.equal(trailers.code, Status.NOT_FOUND);
    assert.equal(trailers.details, "café 100%");
    assert.deepEqual(trailers.metadata.get("x-t"), ["v"]);
    const only = await failure(callUnary(client, "get", key("a")));
    assert.equal(only.code, Status.PERMISSION_DENIED);
    assert.equal(only.details, "no✓");
    assert.equal((await failure(callUnary(client, "get", key("a")))).code, Status.UNAVAILABLE, "HTTP 503");
    assert.equal((await failure(callUnary(client, "get", key("a")))).code, Status.UNKNOWN, "no grpc-status");
    assert.equal((await failure(callUnary(client, "get", key("a")))).code, Status.INTERNAL, "no trailers");
  } finally {
    client.close();
    await raw.close();
  }
});

test("a passed deadline is 4 DEADLINE_EXCEEDED and resets the stream; cancel is 1 CANCELLED", async () => {
  const id = await TestIdentity.create("s");
  const resets: number[] = [];
  const raw = await rawServer(id, (stream) => {
    stream.resume();
    stream.on("close", () => resets.push(stream.rstCode));
  });
  const client = storageClient(raw.port, id);
  try {
    const started = Date.now();
    const late = await failure(callUnary(client, "get", key("a"), { deadlineMs: 200 }));
    assert.equal(late.code, Status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 5000);
    const abort = new AbortController();
    const call = callUnary(client, "get", key("a"), { signal: abort.signal });
    await sleep(100);
    abort.abort();
    assert.equal((await failure(call)).code, Status.CANCELLED);
    for (let i = 0; i < 50 && resets.length < 2; i++) await sleep(20);
    assert.deepEqual(resets, [http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL]);
    // A deadline already past sends nothing.
    const before = resets.length;
    assert.equal(
      (await failure(callUnary(client, "get", key("a"), { deadlineMs: -1 }))).code,
      Status.DEADLINE_EXCEEDED,
    );
    await sleep(50);
    assert.equal(resets.length, before);
  } finally {
    client.close();
    await raw.close();
  }
});

test("deadline, cancel and message limits against a grpc-js server: the same codes as the grpc-js client", async () => {
  const id = await TestIdentity.create("teaclave_storage_service");
  let cancelled = 0;
  let gets = 0;
  const svc = await startStorage(
    { identity: id },
    {
      put: (call: grpc.ServerUnaryCall<unknown, unknown>) => {
        call.on("cancelled", () => cancelled++);
      },
      get: (call: grpc.ServerUnaryCall<storage.GetRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        gets++;
        cb(null, { value: Buffer.alloc(call.request.key.length === 3 ? 2048 : 1, 7) });
      },
    },
  );
  try {
    for (const transport of TRANSPORTS) {
      const client = storageClient(svc.port, id, { transport, maxMessageBytes: 1024 });
      const put = { key: Buffer.from("k"), value: Buffer.from("v") };
      const late = await failure(callUnary(client, "put", put, { deadlineMs: 150 }));
      assert.equal(late.code, Status.DEADLINE_EXCEEDED, transport);
      const abort = new AbortController();
      const call = callUnary(client, "put", put, { signal: abort.signal });
      await sleep(100);
      abort.abort();
      assert.equal((await failure(call)).code, Status.CANCELLED, transport);
      const runs = gets;
      const tooBig = await failure(callUnary(client, "get", { key: Buffer.alloc(2048, 1) }));
      assert.equal(tooBig.code, Status.RESOURCE_EXHAUSTED, transport);
      assert.equal(gets, runs, `${transport}: an oversized request is not sent`);
      const big = await failure(callUnary(client, "get", key("big")));
      assert.equal(big.code, Status.RESOURCE_EXHAUSTED, `${transport}: a response over the limit`);
      assert.equal(gets, runs + 1);
      client.close();
    }
    for (let i = 0; i < 50 && cancelled < 4; i++) await sleep(20);
    assert.equal(cancelled, 4, "the server saw every deadline and cancel");
  } finally {
    await svc.server.close();
  }
});

test("a compressed response is refused (the client offers identity only)", async () => {
  const id = await TestIdentity.create("s");
  const raw = await rawServer(id, (stream) => {
    stream.resume();
    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-encoding": "gzip" },
      { waitForTrailers: true },
    );
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(framed(Buffer.from("not really gzip"), 1));
  });
  const client = storageClient(raw.port, id);
  try {
    assert.equal((await failure(callUnary(client, "get", key("a")))).code, Status.INTERNAL);
  } finally {
    client.close();
    await raw.close();
  }
});

test("connection refused is 14; a server failing attestation is 14 with the attestation text and sees no HTTP/2 byte", async () => {
  const trusted = await TestIdentity.create("teaclave_storage_service");
  const impostor = await TestIdentity.create("impostor");
  const closedPort = await unusedPort();
  const refused = storageClient(closedPort, trusted);
  const err = await failure(callUnary(refused, "get", key("a"), { deadlineMs: 5000 }));
  assert.equal(err.code, Status.UNAVAILABLE);
  assert.match(err.details, /ECONNREFUSED/);
  refused.close();

  const { privateKeyPem, certificatePem } = impostor.current();
  let applicationBytes = 0;
  const closed: Promise<void>[] = [];
  const server = tls.createServer(
    { key: privateKeyPem, cert: certificatePem, ALPNProtocols: ["h2"] },
    (s) => {
      s.on("data", (c: Buffer) => {
        applicationBytes += c.length;
      });
      s.on("error", () => {});
    },
  );
  server.on("connection", (sock: Socket) => closed.push(new Promise((r) => sock.once("close", () => r()))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    for (const transport of TRANSPORTS) {
      const client = storageClient(port, trusted, { transport });
      const rejected = await failure(callUnary(client, "get", key("secret"), { deadlineMs: 5000 }));
      assert.equal(rejected.code, Status.UNAVAILABLE, transport);
      assert.match(rejected.details, /server attestation rejected: Failed to verify mr_enclave/, transport);
      client.close();
    }
    await Promise.all(closed);
    assert.equal(applicationBytes, 0);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("wait-for-ready calls wait for a server that comes up; others fail fast; both end at their deadline", async () => {
  const id = await TestIdentity.create("teaclave_storage_service");
  const port = await unusedPort();
  const client = storageClient(port, id);
  try {
    const waiting = callUnary(client, "get", key("late"), { waitForReady: true, deadlineMs: 15_000 });
    const t0 = Date.now();
    const fast = await failure(callUnary(client, "get", key("a"), { deadlineMs: 15_000 }));
    assert.equal(fast.code, Status.UNAVAILABLE);
    assert.ok(Date.now() - t0 < 5000, "fails fast");
    const ready = new Promise<void>((resolve, reject) =>
      client.waitForReady(Date.now() + 15_000, (e) => (e ? reject(e) : resolve())),
    );
    await sleep(700);
    const server = createAttestedServer({ identity: id });
    server.addService(storage.TeaclaveStorageService, {
      get: (call: grpc.ServerUnaryCall<storage.GetRequest, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { value: call.request.key }),
      put: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
      delete: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
    });
    await server.listen(`127.0.0.1:${port}`);
    try {
      assert.equal((await waiting).value.toString(), "late");
      await ready;
    } finally {
      await server.close();
    }
  } finally {
    client.close();
  }
  const nowhere = storageClient(port, id);
  try {
    const late = await failure(callUnary(nowhere, "get", key("a"), { waitForReady: true, deadlineMs: 1200 }));
    assert.equal(late.code, Status.DEADLINE_EXCEEDED);
    await assert.rejects(
      new Promise<void>((resolve, reject) =>
        nowhere.waitForReady(Date.now() + 300, (e) => (e ? reject(e) : resolve())),
      ),
    );
  } finally {
    nowhere.close();
  }
});

test("GOAWAY: calls in progress finish, the next call opens a new session; a refused stream is retried once", async () => {
  const id = await TestIdentity.create("s");
  const raw = await rawServer(id, (stream, _headers, n) => {
    if (n === 1) {
      answer(stream, "first", 200);
      // The server drains: no new streams on this session, the one in progress still answered.
      setTimeout(() => stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id ?? 1), 50);
    } else if (n === 3) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else answer(stream, `call ${n}`);
  });
  const client = storageClient(raw.port, id);
  try {
    assert.equal((await callUnary(client, "get", key("a"))).value.toString(), "first");
    assert.equal((await callUnary(client, "get", key("a"))).value.toString(), "call 2");
    assert.equal(raw.sessions.length, 2, "a new session after GOAWAY");
    assert.equal(
      (await callUnary(client, "get", key("a"))).value.toString(),
      "call 4",
      "refused, then retried",
    );
  } finally {
    client.close();
    await raw.close();
  }
});

test("a connection lost mid-call is 14 UNAVAILABLE; the next call reconnects", async () => {
  const id = await TestIdentity.create("s");
  const raw = await rawServer(id, (stream, _h, n) => {
    if (n === 1) setTimeout(() => raw.sockets.at(-1)?.destroy(), 100);
    else answer(stream, "back");
  });
  const client = storageClient(raw.port, id);
  try {
    assert.equal((await failure(callUnary(client, "get", key("a")))).code, Status.UNAVAILABLE);
    assert.equal((await callUnary(client, "get", key("a"))).value.toString(), "back");
  } finally {
    client.close();
    await raw.close();
  }
});

/** A TCP relay to `port` that can stop relaying (a peer gone silent without closing anything). */
async function relay(port: number) {
  let silent = false;
  const sockets: Socket[] = [];
  const server = createTcpServer((down) => {
    const up = connect(port, "127.0.0.1");
    sockets.push(down, up);
    down.on("data", (c: Buffer) => silent || up.write(c));
    up.on("data", (c: Buffer) => silent || down.write(c));
    for (const [a, b] of [
      [down, up],
      [up, down],
    ] as const) {
      a.on("error", () => {});
      a.on("close", () => b.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    silence: () => {
      silent = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test("keepalive pings while a call is active; an unanswered ping drops the connection (14)", async () => {
  const id = await TestIdentity.create("s");
  let pings = 0;
  const raw = await rawServer(id, (stream, _h, n) => {
    stream.session?.on("ping", () => pings++);
    if (n === 1) answer(stream, "slow", 700);
  });
  const path = await relay(raw.port);
  const client = storageClient(path.port, id, { keepaliveMs: 150, keepaliveTimeoutMs: 300 });
  try {
    assert.equal((await callUnary(client, "get", key("a"))).value.toString(), "slow");
    assert.ok(pings >= 2, `pings: ${pings}`);
    const t0 = Date.now();
    const lost = callUnary(client, "get", key("a"), { deadlineMs: 10_000 });
    await sleep(50);
    path.silence();
    assert.equal((await failure(lost)).code, Status.UNAVAILABLE);
    assert.ok(Date.now() - t0 < 5000);
  } finally {
    client.close();
    await path.close();
    await raw.close();
  }
});

test("clients with the same credentials share a session; close() lets calls finish and fails new ones", async () => {
  const id = await TestIdentity.create("s");
  const raw = await rawServer(id, (stream, _h, n) => answer(stream, `n${n}`, n === 3 ? 300 : 0));
  const credentials = attestedChannelCredentials({ verifyServer: acceptOnly(id) });
  const a = storageClient(raw.port, id, {}, credentials);
  const b = storageClient(raw.port, id, {}, credentials);
  try {
    assert.equal((await callUnary(a, "get", key("x"))).value.toString(), "n1");
    assert.equal((await callUnary(b, "get", key("x"))).value.toString(), "n2");
    assert.equal(raw.sessions.length, 1);
    const inFlight = callUnary(b, "get", key("x"));
    a.close();
    const closedA = await failure(callUnary(a, "get", key("x")));
    assert.equal(closedA.code, Status.UNAVAILABLE);
    b.close();
    assert.equal((await inFlight).value.toString(), "n3", "a call in progress finishes");
    assert.equal((await failure(callUnary(b, "get", key("x")))).code, Status.UNAVAILABLE);
    const session = raw.sessions[0]!;
    for (let i = 0; i < 50 && !session.closed; i++) await sleep(20);
    assert.ok(session.closed, "the session closed once the last client let go");
  } finally {
    a.close();
    b.close();
    await raw.close();
  }
});

test("server streams: messages, end, error and status in grpc-js's order; cancel; for await; backpressure", async () => {
  type S = extensions.CloisterAuthenticationInternalServer;
  const identity = await TestIdentity.create("teaclave_authentication_service");
  const server = createAttestedServer({ identity });
  let aborted = 0;
  serve<S>(
    server,
    extensions.CloisterAuthenticationInternalService,
    {
      watchUserChanges: async function* (_req, ctx) {
        const mode = ctx.metadata.get("mode")[0];
        if (mode === "many") {
          for (let i = 0; i < 300; i++) yield { userId: `u${i}` };
          return;
        }
        yield { userId: "a" };
        yield { userId: "b" };
        if (mode === "fail") throw new RpcError(Status.NOT_FOUND, "gone", new grpc.Metadata());
        if (mode === "hang") {
          await new Promise<void>((resolve) => ctx.signal?.addEventListener("abort", () => resolve()));
          aborted++;
        }
      },
    },
    { layers: [], policy: { watchUserChanges: "public" } },
  );
  const port = await server.listen("127.0.0.1:0");
  const md = (mode: string) => {
    const m = new grpc.Metadata();
    m.set("mode", mode);
    return m;
  };
  try {
    const orders: Record<string, string[][]> = {};
    for (const transport of TRANSPORTS) {
      const client = createClient(
        extensions.CloisterAuthenticationInternalClient,
        `https://localhost:${port}`,
        attestedChannelCredentials({ verifyServer: acceptOnly(identity) }),
        { transport },
      );
      const events = (mode: string) =>
        new Promise<string[]>((resolve) => {
          const seen: string[] = [];
          const s = client.watchUserChanges({}, md(mode));
          s.on("data", (m: extensions.UserChange) => seen.push(`data ${m.userId}`));
          s.on("end", () => seen.push("end"));
          s.on("error", (e: grpc.ServiceError) => seen.push(`error ${e.code} ${e.details}`));
          s.on("status", (st: grpc.StatusObject) => {
            seen.push(`status ${st.code}`);
            setImmediate(() => resolve(seen));
          });
        });
      orders[transport] = [await events("ok"), await events("fail")];
      // for await, and a slow reader of 300 messages.
      const ids: string[] = [];
      for await (const m of client.watchUserChanges({}, md("many"))) {
        ids.push((m as extensions.UserChange).userId);
        if (ids.length % 50 === 0) await sleep(5);
      }
      assert.equal(ids.length, 300, transport);
      assert.equal(ids[299], "u299", transport);
      // cancel() in the middle: CANCELLED to the reader, the handler's signal aborts.
      const before = aborted;
      const s = client.watchUserChanges({}, md("hang"));
      const code = await new Promise<number>((resolve) => {
        s.on("data", () => s.cancel());
        s.on("error", (e: grpc.ServiceError) => resolve(e.code));
      });
      assert.equal(code, Status.CANCELLED, transport);
      for (let i = 0; i < 50 && aborted === before; i++) await sleep(20);
      assert.equal(aborted, before + 1, `${transport}: the server saw the cancel`);
      client.close();
    }
    assert.deepEqual(orders["http2"], orders["grpc-js"]);
    assert.deepEqual(orders["http2"]![0], ["data a", "data b", "status 0", "end"]);
    assert.deepEqual(orders["http2"]![1], ["data a", "data b", "error 5 gone", "status 5", "end"]);
  } finally {
    await server.close();
  }
});
