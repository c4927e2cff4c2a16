// The layers of packages/rpc over a real attested endpoint: admission before the body, the
// authorisation policy (a method without a rule fails closed), and the order of the layers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CloisterError, cloisterError, Status } from "@cloister/core";
import { storage } from "@cloister/proto";
import {
  attestedChannelCredentials,
  callUnary,
  createAttestedServer,
  createClient,
  type Handlers,
  identityMetadata,
  type Layer,
  type Policy,
  RpcError,
  serve,
} from "../src/index.js";
import { acceptOnly, TestIdentity } from "./helpers.js";

type S = storage.TeaclaveStorageServer;

async function endpoint(policy: Policy<S>, layers: Layer[]) {
  const identity = await TestIdentity.create("teaclave_storage_service");
  const server = createAttestedServer({ identity });
  const ran: string[] = [];
  const ok = (method: string) => async () => {
    ran.push(method);
    return {} as never;
  };
  const handlers: Handlers<S> = {
    get: async (req) => {
      ran.push("get");
      return { value: req.key };
    },
    put: ok("put"),
    delete: ok("delete"),
    enqueue: ok("enqueue"),
    dequeue: ok("dequeue"),
    getKeysByPrefix: ok("getKeysByPrefix"),
  };
  serve<S>(server, storage.TeaclaveStorageService, handlers, { layers, policy });
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(
    storage.TeaclaveStorageClient,
    `https://localhost:${port}`,
    attestedChannelCredentials({ verifyServer: acceptOnly(identity) }),
  );
  return {
    client,
    ran,
    async close() {
      client.close();
      await server.close();
    },
  };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail("the call succeeded"),
    (e: unknown) => {
      assert.ok(e instanceof RpcError);
      return e;
    },
  );

test("a method with no declared policy fails closed: permission denied, its handler never runs", async () => {
  // As if a method had been added to the proto and nobody wrote its rule.
  const policy = { get: "public", put: "public" } as unknown as Policy<S>;
  const ep = await endpoint(policy, []);
  try {
    assert.deepEqual(await callUnary(ep.client, "get", { key: Buffer.from("k") }), {
      value: Buffer.from("k"),
    });
    const e = await refusal(callUnary(ep.client, "delete", { key: Buffer.from("k") }));
    assert.equal(e.code, Status.PERMISSION_DENIED);
    assert.equal(e.details, "permission denied");
    assert.deepEqual(ep.ran, ["get"], "delete's handler did not run");
  } finally {
    await ep.close();
  }
});

test("rules: authenticated needs a principal from admission; a rule function decides per call", async () => {
  const admitted: string[] = [];
  const authentication: Layer = {
    name: "authentication",
    admit(ctx) {
      admitted.push(ctx.method);
      if (ctx.identity.token === "good") ctx.principal = { id: ctx.identity.id ?? "", role: "R" };
      else if (ctx.identity.token !== undefined) throw cloisterError("INCORRECT_CREDENTIAL");
    },
  };
  const order: string[] = [];
  const outer: Layer = {
    name: "outer",
    async intercept(ctx, _req, next) {
      order.push(`in ${ctx.api}`);
      try {
        return await next();
      } finally {
        order.push(`out authorised=${ctx.authorised === true}`);
      }
    },
  };
  const policy: Policy<S> = {
    get: "authenticated",
    put: (ctx, req) => ctx.principal?.role === "R" && (req as storage.PutRequest).value.length < 4,
    delete: "peer",
    enqueue: "public",
    dequeue: "public",
    getKeysByPrefix: "public",
  };
  const ep = await endpoint(policy, [outer, authentication]);
  const as = (id: string, token?: string) => ({
    metadata: identityMetadata(token === undefined ? { id } : { id, token }),
  });
  try {
    await callUnary(ep.client, "get", { key: Buffer.from("k") }, as("u", "good"));
    const anonymous = await refusal(callUnary(ep.client, "get", { key: Buffer.from("k") }, as("u")));
    assert.equal(anonymous.code, Status.PERMISSION_DENIED);
    const bad = await refusal(callUnary(ep.client, "get", { key: Buffer.from("k") }, as("u", "bad")));
    assert.equal(bad.code, Status.UNAUTHENTICATED, "refused at admission with the layer's error");
    assert.equal(new CloisterError(bad.code, bad.details).kind, "INCORRECT_CREDENTIAL");
    await callUnary(ep.client, "put", { key: Buffer.from("k"), value: Buffer.from("abc") }, as("u", "good"));
    const big = await refusal(
      callUnary(ep.client, "put", { key: Buffer.from("k"), value: Buffer.from("abcd") }, as("u", "good")),
    );
    assert.equal(big.code, Status.PERMISSION_DENIED);
    // API endpoint: no attested peer, so a "peer" rule refuses.
    const peer = await refusal(callUnary(ep.client, "delete", { key: Buffer.from("k") }, as("u", "good")));
    assert.equal(peer.code, Status.PERMISSION_DENIED);
    assert.deepEqual(ep.ran, ["get", "put"]);
    assert.equal(admitted.length, 6, "admission ran for every call, before its body");
    assert.deepEqual(order.slice(0, 4), ["in get", "out authorised=true", "in get", "out authorised=false"]);
  } finally {
    await ep.close();
  }
});
