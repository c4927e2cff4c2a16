// The client must decide about the server before it sends a single HTTP/2 byte: a server that
// fails attestation must not even see the connection preface, let alone a request.
import assert from "node:assert/strict";
import type { AddressInfo, Socket } from "node:net";
import { test } from "node:test";
import * as tls from "node:tls";
import { Status } from "@cloister/core";
import { storage } from "@cloister/proto";
import { attestedChannelCredentials, callUnary, createClient, RpcError } from "../src/index.js";
import { acceptOnly, TestIdentity } from "./helpers.js";

for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
  test(`a rejected server receives no application bytes at all (${maxVersion})`, async () => {
    const impostor = await TestIdentity.create("impostor");
    const trusted = await TestIdentity.create("teaclave_frontend_service");
    const { privateKeyPem: key, certificatePem: cert } = impostor.current();
    let handshakes = 0;
    let applicationBytes = 0;
    const closed: Promise<void>[] = [];
    const server = tls.createServer({ key, cert, ALPNProtocols: ["h2"] }, (socket) => {
      handshakes++;
      socket.on("data", (chunk: Buffer) => {
        applicationBytes += chunk.length;
      });
      socket.on("error", () => {});
    });
    server.on("connection", (raw: Socket) => {
      closed.push(new Promise((resolve) => raw.once("close", () => resolve())));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const verifier = acceptOnly(trusted);
    const client = createClient(
      storage.TeaclaveStorageClient,
      `https://localhost:${port}`,
      attestedChannelCredentials({ verifyServer: verifier, maxVersion }),
    );
    try {
      const err = await callUnary(
        client,
        "get",
        { key: Buffer.from("secret-key") },
        { deadlineMs: 10_000 },
      ).then(
        () => assert.fail("call succeeded against an impostor"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RpcError);
      assert.equal(err.code, Status.UNAVAILABLE);
      assert.match(err.details, /server attestation rejected/);
      assert.ok(verifier.calls >= 1, "the certificate was judged");
      client.close();
      await Promise.all(closed); // every connection the client opened is over: the count is final
      // With TLS 1.2 the server finishes its handshake before the client can judge it.
      if (maxVersion === "TLSv1.2") assert.ok(handshakes >= 1);
      assert.equal(applicationBytes, 0);
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
}
