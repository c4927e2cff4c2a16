// The in-process transport: a localClient call runs the same chain serve() registered (admission,
// layers, policy, handler), through the server's own request guard and limits, and fails with
// the code and details the wire carries for the same call (each checked against a real attested
// call to the same server).
import assert from "node:assert/strict";
import { test } from "node:test";
import { CloisterError, cloisterError, Status, silentLogger } from "@cloister/core";
import { authentication, extensions, storage } from "@cloister/proto";
import * as grpc from "@grpc/grpc-js";
import {
  type AttestedServer,
  attestedChannelCredentials,
  callUnary,
  createAttestedServer,
  createClient,
  type Handlers,
  IN_PROCESS_ADDRESS,
  type Layer,
  localClient,
  type Policy,
  type RpcContext,
  RpcError,
  serve,
  toRpcError,
  type VerifiedPeerInfo,
} from "../src/index.js";
import { acceptOnly, TestIdentity } from "./helpers.js";

type S = storage.TeaclaveStorageServer;
const caller: VerifiedPeerInfo = {
  name: "teaclave_frontend_service",
  mrEnclave: "ab".repeat(32),
  mrSigner: "00".repeat(32),
  simulated: true,
};
const key = (s: string) => ({ key: Buffer.from(s) });

const failure = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail("the call succeeded"),
    (e: unknown) => {
      assert.ok(e instanceof RpcError);
      return { code: e.code, details: e.details };
    },
  );

/** An internal storage endpoint behind a recording layer; `wire` is an attested client to it. */
async function storageEndpoint(opts: { maxMessageBytes?: number; shutdownGraceMs?: number } = {}) {
  const identity = await TestIdentity.create("teaclave_storage_service");
  const client = await TestIdentity.create("teaclave_frontend_service");
  const observed: { path: string; code: number }[] = [];
  const server = createAttestedServer({
    identity,
    verifyClient: acceptOnly(client),
    onLocalCall: (path, code) => observed.push({ path, code }),
    ...opts,
  });
  const seen: RpcContext[] = [];
  const logged: unknown[] = [];
  const log = Object.assign(Object.create(silentLogger), { error: (o: unknown) => logged.push(o) });
  const kept = { value: Buffer.from("kept") };
  let release: () => void = () => undefined;
  const record: Layer = {
    name: "record",
    admit(ctx) {
      if (ctx.identity.token === "bad") throw cloisterError("INCORRECT_CREDENTIAL");
    },
    async intercept(ctx, _request, next) {
      seen.push(ctx);
      return next();
    },
  };
  const handlers: Handlers<S> = {
    get: async (req, ctx) => {
      const k = req.key.toString();
      if (k === "kept") return kept;
      if (k === "typed") throw new CloisterError(Status.NOT_FOUND, "no such key ü");
      if (k === "boom") throw new Error("secret=hunter2");
      if (k === "wait") {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearInterval(poll);
            resolve();
          };
          release = done;
          const poll = setInterval(() => ctx.cancelled() && done(), 5);
        });
      }
      if (k === "big") return { value: Buffer.alloc(4096) };
      ctx.metadata.set("touched", "by the handler");
      req.key.fill(0);
      return { value: Buffer.from(k) };
    },
    put: async () => ({}),
    delete: async () => ({}),
    enqueue: async () => ({}),
    dequeue: async () => ({ value: Buffer.alloc(0) }),
    getKeysByPrefix: async () => ({ keys: [] }),
  };
  // getKeysByPrefix has no rule, as if a method were added and its rule forgotten.
  const policy = {
    get: "peer",
    put: "peer",
    delete: "peer",
    enqueue: "peer",
    dequeue: "peer",
  } as unknown as Policy<S>;
  serve<S>(server, storage.TeaclaveStorageService, handlers, { layers: [record], policy, log });
  const port = await server.listen("127.0.0.1:0");
  const dial = (Client: typeof storage.TeaclaveStorageClient) =>
    createClient(
      Client,
      `https://localhost:${port}`,
      attestedChannelCredentials({ verifyServer: acceptOnly(identity), identity: client }),
    );
  const wire = dial(storage.TeaclaveStorageClient);
  return {
    server,
    wire,
    dial,
    local: localClient(storage.TeaclaveStorageClient, server, caller),
    seen,
    observed,
    logged,
    kept,
    release: () => release(),
    async close() {
      wire.close();
      await server.close();
    },
  };
}

test("a unary call in process: same response, peer and deadline in the context, nothing shared", async () => {
  const ep = await storageEndpoint();
  try {
    const md = new grpc.Metadata();
    md.set("id", "alice");
    const request = key("hello");
    const res = await callUnary(ep.local, "get", request, {
      metadata: md,
      deadlineMs: 10_000,
      waitForReady: true,
    });
    assert.deepEqual(res, { value: Buffer.from("hello") });
    assert.deepEqual(request.key, Buffer.from("hello"), "the handler zeroed its own copy of the request");
    assert.deepEqual(md.get("touched"), [], "the handler's metadata is a copy");
    const ctx = ep.seen.at(-1) as RpcContext;
    assert.deepEqual(ctx.peer, caller);
    assert.equal(ctx.address, IN_PROCESS_ADDRESS);
    assert.equal(ctx.identity.id, "alice");
    assert.ok(ctx.deadlineMs !== undefined && ctx.deadlineMs > 9000 && ctx.deadlineMs <= 10_000);
    assert.equal(ctx.cancelled(), false);
    const first = await callUnary(ep.local, "get", key("kept"));
    first.value.fill(1);
    assert.deepEqual(ep.kept.value, Buffer.from("kept"), "the caller's response is not the handler's object");
    // Generated callback forms work too.
    const viaCallback = await new Promise((resolve, reject) =>
      ep.local.get(key("cb"), (e, r) => (e ? reject(e) : resolve(r))),
    );
    assert.deepEqual(viaCallback, { value: Buffer.from("cb") });
  } finally {
    await ep.close();
  }
});

test("failures carry the wire's code and details: typed, internal (logged), no policy, admission, bad request", async () => {
  const ep = await storageEndpoint({ maxMessageBytes: 1024 });
  try {
    const bad = new grpc.Metadata();
    bad.set("token", "bad");
    const garbage = (Client: typeof storage.TeaclaveStorageClient) => {
      const service = {
        ...Client.service,
        get: { ...Client.service.get, requestSerialize: () => Buffer.from([0xff, 0xff, 0xff]) },
      };
      return grpc.makeGenericClientConstructor(
        service,
        "x",
      ) as unknown as typeof storage.TeaclaveStorageClient;
    };
    const garbled = garbage(storage.TeaclaveStorageClient);
    const cases: [string, (c: storage.TeaclaveStorageClient) => Promise<unknown>, number][] = [
      ["typed", (c) => callUnary(c, "get", key("typed")), Status.NOT_FOUND],
      ["internal", (c) => callUnary(c, "get", key("boom")), Status.INTERNAL],
      [
        "no policy",
        (c) => callUnary(c, "getKeysByPrefix", { prefix: Buffer.from("p") }),
        Status.PERMISSION_DENIED,
      ],
      ["admission", (c) => callUnary(c, "get", key("x"), { metadata: bad }), Status.UNAUTHENTICATED],
      [
        "too large",
        (c) => callUnary(c, "put", { key: Buffer.from("k"), value: Buffer.alloc(2048) }),
        Status.RESOURCE_EXHAUSTED,
      ],
      ["response too large", (c) => callUnary(c, "get", key("big")), Status.RESOURCE_EXHAUSTED],
    ];
    for (const [name, call, code] of cases) {
      const before = ep.seen.length;
      const local = await failure(call(ep.local));
      const wire = await failure(call(ep.wire));
      assert.equal(local.code, code, name);
      assert.deepEqual(local, wire, `${name}: as on the wire`);
      if (name === "admission" || name === "too large")
        assert.equal(ep.seen.length, before, `${name}: refused before the layers`);
    }
    assert.equal((await failure(callUnary(ep.local, "get", key("boom")))).details, "service internal error");
    assert.ok(ep.logged.length >= 2, "the internal error was logged");
    // An undecodable request: the server's own guard answers 3 before any layer runs.
    const before = ep.seen.length;
    const local = await failure(callUnary(localClient(garbled, ep.server, caller), "get", key("x")));
    const viaWire = ep.dial(garbled);
    assert.equal(local.code, Status.INVALID_ARGUMENT);
    assert.deepEqual(local, await failure(callUnary(viaWire, "get", key("x"))));
    viaWire.close();
    assert.equal(ep.seen.length, before);
    // A method the endpoint does not serve.
    const other = localClient(extensions.CloisterStorageClient, ep.server, caller);
    const unknown = await failure(callUnary(other, "batch", { writes: [] }));
    assert.equal(unknown.code, Status.UNIMPLEMENTED);
    // Every in-process call reached the server's observer (RPC metrics) with its status.
    const get = storage.TeaclaveStorageService.get.path;
    assert.deepEqual(ep.observed.slice(0, 2), [
      { path: get, code: Status.NOT_FOUND },
      { path: get, code: Status.INTERNAL },
    ]);
  } finally {
    await ep.close();
  }
});

test("deadline and cancel: the caller gets 4 or 1, the handler sees ctx.cancelled()", async () => {
  const ep = await storageEndpoint();
  try {
    const late = await failure(callUnary(ep.local, "get", key("wait"), { deadlineMs: 30 }));
    assert.deepEqual(late, { code: Status.DEADLINE_EXCEEDED, details: "Deadline exceeded" });
    const ctx = ep.seen.at(-1) as RpcContext;
    assert.ok((ctx.deadlineMs ?? Infinity) <= 30);
    assert.equal(ctx.cancelled(), true);
    const abort = new AbortController();
    const pending = failure(callUnary(ep.local, "get", key("wait"), { signal: abort.signal }));
    await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    assert.equal((await pending).code, Status.CANCELLED);
    assert.equal((ep.seen.at(-1) as RpcContext).cancelled(), true);
  } finally {
    await ep.close();
  }
});

test("close: calls in progress finish within the grace period, then are cut; new calls are refused (14, or wait for ready)", async () => {
  const ep = await storageEndpoint({ shutdownGraceMs: 100 });
  const stuck = failure(callUnary(ep.local, "get", key("wait")));
  await new Promise((r) => setTimeout(r, 10));
  const finishing = callUnary(ep.local, "get", key("wait"));
  await new Promise((r) => setTimeout(r, 10));
  const closing = ep.close();
  ep.release(); // the second call's handler holds the release function
  assert.deepEqual(await finishing, { value: Buffer.from("wait") }, "finished during the grace period");
  await closing;
  assert.equal((await stuck).code, Status.UNAVAILABLE, "cut at the end of the grace period");
  assert.equal((await failure(callUnary(ep.local, "get", key("x")))).code, Status.UNAVAILABLE);
  const waiting = await failure(callUnary(ep.local, "get", key("x"), { waitForReady: true, deadlineMs: 30 }));
  assert.equal(waiting.code, Status.DEADLINE_EXCEEDED);
});

test("an API endpoint's request limits apply in process exactly as on the wire", async () => {
  type A = authentication.TeaclaveAuthenticationApiServer;
  const identity = await TestIdentity.create("teaclave_authentication_service");
  const server: AttestedServer = createAttestedServer({ identity });
  let runs = 0;
  const ok = async () => {
    runs++;
    return {} as never;
  };
  serve<A>(
    server,
    authentication.TeaclaveAuthenticationApiService,
    {
      userRegister: ok,
      userUpdate: ok,
      userLogin: ok,
      userChangePassword: ok,
      resetUserPassword: ok,
      deleteUser: ok,
      listUsers: ok,
    },
    {
      layers: [],
      policy: {
        userRegister: "public",
        userUpdate: "public",
        userLogin: "public",
        userChangePassword: "public",
        resetUserPassword: "public",
        deleteUser: "public",
        listUsers: "public",
      },
    },
  );
  const port = await server.listen("127.0.0.1:0");
  const wire = createClient(
    authentication.TeaclaveAuthenticationApiClient,
    `https://localhost:${port}`,
    attestedChannelCredentials({ verifyServer: acceptOnly(identity) }),
  );
  const local = localClient(authentication.TeaclaveAuthenticationApiClient, server, caller);
  try {
    // A field over its limit (3 by the guard), and a message over the endpoint's limit (8).
    const cases: [authentication.UserLoginRequest, number][] = [
      [{ id: "u".repeat(300), password: "p" }, Status.INVALID_ARGUMENT],
      [{ id: "u", password: "p".repeat(2048) }, Status.INVALID_ARGUMENT],
      [{ id: "u", password: "p".repeat(70 * 1024) }, Status.RESOURCE_EXHAUSTED],
    ];
    for (const [request, code] of cases) {
      const l = await failure(callUnary(local, "userLogin", request));
      assert.equal(l.code, code);
      assert.deepEqual(l, await failure(callUnary(wire, "userLogin", request)));
    }
    assert.equal(runs, 0, "no handler ran");
  } finally {
    wire.close();
    await server.close();
  }
});

type W = extensions.CloisterAuthenticationInternalServer;

async function streamEndpoint(watch: Handlers<W>["watchUserChanges"]) {
  const identity = await TestIdentity.create("teaclave_authentication_service");
  const server = createAttestedServer({ identity, verifyClient: () => caller });
  serve<W>(
    server,
    extensions.CloisterAuthenticationInternalService,
    { watchUserChanges: watch },
    { layers: [], policy: { watchUserChanges: "peer" } },
  );
  return { server, client: localClient(extensions.CloisterAuthenticationInternalClient, server, caller) };
}

test("a server stream in process: async iteration, data/end/status events, failures as error + status", async () => {
  let fail = false;
  const { server, client } = await streamEndpoint(async function* () {
    for (let i = 0; i < 3; i++) yield { userId: `u${i}` };
    if (fail) throw cloisterError("PERMISSION_DENIED");
  });
  const got: string[] = [];
  for await (const change of client.watchUserChanges({})) got.push((change as extensions.UserChange).userId);
  assert.deepEqual(got, ["u0", "u1", "u2"]);
  // The credential cache's follower: "data" events, then "end" and an OK status.
  const ok = client.watchUserChanges({});
  const okEvents: string[] = [];
  ok.on("data", (c: extensions.UserChange) => okEvents.push(c.userId));
  ok.on("end", () => okEvents.push("end"));
  await new Promise<void>((resolve) =>
    ok.on("status", (s: grpc.StatusObject) => resolve(assert.equal(s.code, 0))),
  );
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(okEvents, ["u0", "u1", "u2", "end"]);
  fail = true;
  const events: string[] = [];
  const stream = client.watchUserChanges({}, new grpc.Metadata());
  const code = await new Promise<number>((resolve) => {
    stream.on("data", (c: extensions.UserChange) => events.push(c.userId));
    stream.on("error", (e: grpc.ServiceError) => events.push(`error ${e.code} ${e.details}`));
    stream.on("status", (s: grpc.StatusObject) => resolve(s.code));
  });
  assert.equal(code, Status.PERMISSION_DENIED);
  assert.deepEqual(events, ["u0", "u1", "u2", "error 7 permission denied"]);
  // The frontend's relay rethrows what iteration throws as an RpcError.
  const thrown = await (async () => {
    try {
      for await (const _ of client.watchUserChanges({}));
    } catch (e) {
      return toRpcError(e as grpc.ServiceError);
    }
  })();
  assert.equal(thrown?.code, Status.PERMISSION_DENIED);
  await server.close();
});

test("a server stream: bounded buffering while the reader is behind; cancel and an early break reach the handler", async () => {
  let produced = 0;
  const aborted: boolean[] = [];
  const { server, client } = await streamEndpoint(async function* (_req, ctx) {
    try {
      for (;;) {
        produced++;
        yield { userId: "x" };
      }
    } finally {
      aborted.push(ctx.signal?.aborted === true && ctx.cancelled());
    }
  });
  const stream = client.watchUserChanges({});
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(produced <= 20, `the handler waited for the reader (${produced} produced)`);
  const ended = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
  stream.cancel();
  assert.equal((await ended).code, Status.CANCELLED);
  // The frontend's relay: iterate, leave early, cancel in finally (a no-op by then).
  const relay = client.watchUserChanges({});
  let n = 0;
  try {
    for await (const _ of relay) if (++n === 5) break;
  } finally {
    relay.cancel();
  }
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(aborted, [true, true], "both handlers saw the abort");
  await server.close();
});
