// Server-streaming methods through serve(): the same layers and policy as unary ones, messages in
// order, a failure as the stream's status, and a client that goes away aborting ctx.signal.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cloisterError, Status } from "@cloister/core";
import { extensions } from "@cloister/proto";
import type * as grpc from "@grpc/grpc-js";
import {
  attestedChannelCredentials,
  createAttestedServer,
  createClient,
  type Handlers,
  type Layer,
  type Policy,
  serve,
} from "../src/index.js";
import { acceptOnly, TestIdentity } from "./helpers.js";

type S = extensions.CloisterAuthenticationInternalServer;

async function endpoint(
  watch: Handlers<S>["watchUserChanges"],
  policy: Policy<S> = { watchUserChanges: "public" },
) {
  const identity = await TestIdentity.create("teaclave_authentication_service");
  const server = createAttestedServer({ identity });
  const seen: string[] = [];
  const layer: Layer = {
    name: "trace",
    async intercept(ctx, _request, next) {
      seen.push(`in ${ctx.method}`);
      try {
        return await next();
      } finally {
        seen.push("out");
      }
    },
  };
  serve<S>(
    server,
    extensions.CloisterAuthenticationInternalService,
    { watchUserChanges: watch },
    {
      layers: [layer],
      policy,
    },
  );
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(
    extensions.CloisterAuthenticationInternalClient,
    `https://localhost:${port}`,
    attestedChannelCredentials({ verifyServer: acceptOnly(identity) }),
  );
  return {
    client,
    seen,
    async close() {
      client.close();
      await server.close();
    },
  };
}

const read = async (stream: grpc.ClientReadableStream<extensions.UserChange>) => {
  const ids: string[] = [];
  for await (const m of stream) ids.push((m as extensions.UserChange).userId);
  return ids;
};

test("a stream's messages arrive in order through the layers, which see it as one call", async () => {
  const ep = await endpoint(async function* () {
    yield { userId: "a" };
    yield { userId: "b" };
  });
  try {
    assert.deepEqual(await read(ep.client.watchUserChanges({})), ["a", "b"]);
    assert.deepEqual(ep.seen, ["in watchUserChanges", "out"]);
  } finally {
    await ep.close();
  }
});

test("a failure ends the stream with its status; a refused policy runs no handler", async () => {
  let ran = false;
  const failing = await endpoint(async function* () {
    yield { userId: "a" };
    throw cloisterError("PERMISSION_DENIED");
  });
  const refused = await endpoint(
    async function* () {
      ran = true;
      yield { userId: "never" };
    },
    { watchUserChanges: () => false },
  );
  try {
    await assert.rejects(read(failing.client.watchUserChanges({})), (e: grpc.ServiceError) => {
      assert.equal(e.code, Status.PERMISSION_DENIED);
      return true;
    });
    await assert.rejects(
      read(refused.client.watchUserChanges({})),
      (e: grpc.ServiceError) => e.code === Status.PERMISSION_DENIED,
    );
    assert.equal(ran, false);
  } finally {
    await failing.close();
    await refused.close();
  }
});

test("a client that goes away aborts the handler's signal", async () => {
  let aborted!: () => void;
  const gone = new Promise<void>((r) => {
    aborted = r;
  });
  const ep = await endpoint(async function* (_request, ctx) {
    yield { userId: "first" };
    await new Promise<void>((resolve) =>
      ctx.signal?.addEventListener("abort", () => resolve(), { once: true }),
    );
    aborted();
  });
  try {
    const stream = ep.client.watchUserChanges({});
    stream.on("error", () => undefined);
    const [first] = (await new Promise((resolve) => stream.once("data", (m) => resolve([m])))) as [
      extensions.UserChange,
    ];
    assert.equal(first.userId, "first");
    stream.cancel();
    await gone;
  } finally {
    await ep.close();
  }
});
