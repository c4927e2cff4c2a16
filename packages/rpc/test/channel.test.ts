import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as tls from "node:tls";
import { Status } from "@cloister/core";
import { storage } from "@cloister/proto";
import type * as grpc from "@grpc/grpc-js";
import {
  attestedChannelCredentials,
  callUnary,
  createClient,
  DEFAULT_MAX_MESSAGE_BYTES,
  INTERNAL_MAX_MESSAGE_BYTES,
  RpcError,
  TLS12_CIPHERS,
  unary,
  type VerifiedPeerInfo,
} from "../src/index.js";
import { acceptOnly, spkiFingerprint, startStorage, TestIdentity, type TestService } from "./helpers.js";

const clients: grpc.Client[] = [];
function storageClient(
  port: number,
  opts: Parameters<typeof attestedChannelCredentials>[0],
): storage.TeaclaveStorageClient {
  const client = createClient(
    storage.TeaclaveStorageClient,
    `127.0.0.1:${port}`,
    attestedChannelCredentials(opts),
  );
  clients.push(client);
  return client;
}

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected RpcError, got ${String(err)}`);
    return err;
  }
  assert.fail("call unexpectedly succeeded");
}

let server: TestIdentity;
let frontend: TestIdentity;
let stranger: TestIdentity;

before(async () => {
  [server, frontend, stranger] = await Promise.all([
    TestIdentity.create("teaclave_storage_service"),
    TestIdentity.create("teaclave_management_service"),
    TestIdentity.create("stranger"),
  ]);
});
after(() => {
  for (const c of clients) c.close();
});

describe("API endpoint (server attestation only)", () => {
  let svc: TestService;
  before(async () => {
    svc = await startStorage({ identity: server });
  });
  after(() => svc.server.close());

  test("a verified server answers calls; the handler sees no peer identity", async () => {
    const seen: VerifiedPeerInfo[] = [];
    const client = storageClient(svc.port, {
      verifyServer: acceptOnly(server),
      onVerified: (p) => seen.push(p),
    });
    const res = await callUnary(client, "get", { key: Buffer.from("hello") }, { deadlineMs: 10_000 });
    assert.equal(res.value.toString(), "hello");
    assert.equal(svc.lastPeer, undefined);
    assert.equal(seen[0]?.name, "teaclave_storage_service");
  });

  test("handler errors keep their code and text", async () => {
    const client = storageClient(svc.port, { verifyServer: acceptOnly(server) });
    const err = await rejection(callUnary(client, "get", { key: Buffer.from("missing") }));
    assert.equal(err.code, Status.INVALID_ARGUMENT);
    assert.equal(err.details, "invalid key ü % ✓");
    const internal = await rejection(callUnary(client, "get", { key: Buffer.from("boom") }));
    assert.equal(internal.code, Status.INTERNAL);
    assert.equal(internal.details, "service internal error");
  });

  test("the client refuses a server its verifier rejects; the handler never runs", async () => {
    const before = svc.handlerRuns;
    const verifier = acceptOnly(stranger);
    const client = storageClient(svc.port, { verifyServer: verifier });
    const err = await rejection(callUnary(client, "get", { key: Buffer.from("x") }, { deadlineMs: 10_000 }));
    assert.equal(err.code, Status.UNAVAILABLE);
    assert.match(err.details, /server attestation rejected: Failed to verify mr_enclave/);
    assert.ok(verifier.calls >= 1);
    assert.equal(svc.handlerRuns, before);
  });

  test("a 10 MiB message round-trips in both directions", async () => {
    const client = storageClient(svc.port, { verifyServer: acceptOnly(server) });
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    big.write("start", 0);
    big.write("end", big.length - 3);
    const res = await callUnary(client, "get", { key: big }, { deadlineMs: 30_000 });
    assert.equal(res.value.length, big.length);
    assert.ok(res.value.equals(big));
  });

  test("TLS 1.2 (each ECDHE-ECDSA suite of wire.md §2) and TLS 1.3 handshakes select h2", async () => {
    const cases: tls.ConnectionOptions[] = [
      ...TLS12_CIPHERS.split(":").map((ciphers) => ({ maxVersion: "TLSv1.2" as const, ciphers })),
      { minVersion: "TLSv1.3" },
    ];
    for (const opts of cases) {
      const info = await rawHandshake(svc.port, opts);
      assert.equal(info.alpn, "h2");
      if (opts.ciphers) {
        assert.equal(info.protocol, "TLSv1.2");
        assert.equal(info.cipher, opts.ciphers);
      } else assert.equal(info.protocol, "TLSv1.3");
      assert.ok(info.peer.equals(server.current().certificateDer), "presents the attested certificate");
    }
  });

  test("a gRPC call works over a TLS 1.2-only attested channel", async () => {
    const client = storageClient(svc.port, { verifyServer: acceptOnly(server), maxVersion: "TLSv1.2" });
    const res = await callUnary(client, "get", { key: Buffer.from("v12") });
    assert.equal(res.value.toString(), "v12");
  });

  test("sessions are never resumed (TLS 1.2 and 1.3)", async () => {
    for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
      const first = await rawHandshake(svc.port, { minVersion: version, maxVersion: version });
      if (!first.session) continue; // no session offered at all: nothing to resume
      const second = await rawHandshake(svc.port, {
        minVersion: version,
        maxVersion: version,
        session: first.session,
      });
      assert.equal(second.reused, false, `${version} session was resumed`);
    }
  });
});

describe("internal endpoint (mutual attestation)", () => {
  let svc: TestService;
  let clientCheck: ReturnType<typeof acceptOnly>;
  before(async () => {
    clientCheck = acceptOnly(frontend);
    svc = await startStorage({ identity: server, verifyClient: clientCheck });
  });
  after(() => svc.server.close());

  test("a client with an accepted certificate is served and identified", async () => {
    const client = storageClient(svc.port, {
      verifyServer: acceptOnly(server),
      identity: frontend,
      maxVersion: "TLSv1.2",
    });
    const res = await callUnary(client, "get", { key: Buffer.from("k") });
    assert.equal(res.value.toString(), "k");
    assert.equal(svc.lastPeer?.name, "teaclave_management_service");
    assert.equal(svc.lastPeer?.simulated, true);
  });

  test("a client without a certificate is refused before gRPC; the handler never runs", async () => {
    const before = svc.handlerRuns;
    const client = storageClient(svc.port, { verifyServer: acceptOnly(server) });
    const err = await rejection(callUnary(client, "get", { key: Buffer.from("k") }, { deadlineMs: 10_000 }));
    assert.equal(err.code, Status.UNAVAILABLE);
    assert.equal(svc.handlerRuns, before);
  });

  test("a client whose certificate the verifier rejects is refused; the handler never runs", async () => {
    const before = svc.handlerRuns;
    const callsBefore = clientCheck.calls;
    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      const client = storageClient(svc.port, {
        verifyServer: acceptOnly(server),
        identity: stranger,
        maxVersion,
      });
      const err = await rejection(
        callUnary(client, "get", { key: Buffer.from("k") }, { deadlineMs: 10_000 }),
      );
      assert.equal(err.code, Status.UNAVAILABLE);
    }
    assert.ok(clientCheck.calls >= callsBefore + 2, "the client verifier ran");
    assert.equal(svc.handlerRuns, before);
  });
});

describe("certificate renewal", () => {
  test("new connections get the renewed server and client certificates", async () => {
    const serverId = await TestIdentity.create("teaclave_storage_service");
    const clientId = await TestIdentity.create("teaclave_scheduler_service");
    const svc = await startStorage({ identity: serverId, verifyClient: acceptOnly(clientId) });
    try {
      const presented: string[] = [];
      const recordingVerifier = (der: Buffer) => {
        presented.push(spkiFingerprint(der));
        return acceptOnly(serverId)(der);
      };
      const before = storageClient(svc.port, { verifyServer: recordingVerifier, identity: clientId });
      await callUnary(before, "get", { key: Buffer.from("1") });
      const oldFp = spkiFingerprint(serverId.current().certificateDer);

      await serverId.renew();
      await clientId.renew();
      const newFp = spkiFingerprint(serverId.current().certificateDer);
      assert.notEqual(newFp, oldFp);

      // New credentials object = new connection; the server verifier only knows the new client cert.
      const afterRenewal = storageClient(svc.port, { verifyServer: recordingVerifier, identity: clientId });
      await callUnary(afterRenewal, "get", { key: Buffer.from("2") });
      assert.deepEqual(presented, [oldFp, newFp]);
      const { privateKeyPem: key, certificatePem: cert } = clientId.current();
      const raw = await rawHandshake(svc.port, { maxVersion: "TLSv1.2", key, cert });
      assert.ok(raw.peer.equals(serverId.current().certificateDer), "TLS 1.2 after renewal");
    } finally {
      await svc.server.close();
    }
  });
});

describe("ALPN", () => {
  test("clients that do not negotiate h2 are refused before gRPC", async () => {
    const svc = await startStorage({ identity: server });
    try {
      await assert.rejects(rawHandshake(svc.port, { ALPNProtocols: ["http/1.1"] }));
      await assert.rejects(rawHandshake(svc.port, { ALPNProtocols: [] }), /closed before the server spoke/);
    } finally {
      await svc.server.close();
    }
  });
});

describe("close()", () => {
  test("lets an in-flight call finish, then refuses new connections", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const svc = await startStorage(
      { identity: server },
      {
        delete: unary(async () => {
          entered();
          await gate;
          return {};
        }),
      },
    );
    const client = storageClient(svc.port, { verifyServer: acceptOnly(server) });
    const call = callUnary(client, "delete", { key: Buffer.from("k") });
    await inHandler;
    const closing = svc.server.close();
    release();
    assert.deepEqual(await call, {});
    await closing;
    await assert.rejects(rawHandshake(svc.port, {}));
  });

  test("cuts calls that outlive the grace period", async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const svc = await startStorage(
      { identity: server, shutdownGraceMs: 50 },
      {
        delete: unary(() => {
          entered();
          return new Promise<Record<string, never>>(() => {});
        }),
      },
    );
    const client = storageClient(svc.port, { verifyServer: acceptOnly(server) });
    const call = callUnary(client, "delete", { key: Buffer.from("k") });
    await inHandler;
    await svc.server.close();
    const err = await rejection(call);
    // grpc-js resets the stream (CANCELLED) or the connection drops first (UNAVAILABLE).
    assert.ok(err.code === Status.CANCELLED || err.code === Status.UNAVAILABLE, String(err.code));
  });

  test("stops accepting connections and is idempotent", async () => {
    const svc = await startStorage({ identity: server });
    await Promise.all([svc.server.close(), svc.server.close()]);
    await assert.rejects(rawHandshake(svc.port, {}));
  });
});

interface Handshake {
  protocol: string | null;
  cipher: string;
  alpn: string | false | null;
  peer: Buffer;
  session: Buffer | undefined;
  reused: boolean;
}

/**
 * A bare TLS client handshake (test-only: it trusts nothing and checks nothing). Sends the
 * HTTP/2 preface and waits for the server's first HTTP/2 bytes, by which time any session
 * ticket has arrived.
 */
function rawHandshake(port: number, opts: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      ALPNProtocols: ["h2"],
      rejectUnauthorized: false,
      ...opts,
    });
    socket.on("session", (s) => {
      session = s;
    });
    socket.once("error", reject);
    socket.once("close", () => reject(new Error("closed before the server spoke")));
    // The server speaks HTTP/2 only to a client that has sent its connection preface.
    socket.once("secureConnect", () => socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    socket.once("data", () => {
      socket.removeAllListeners("close");
      resolve({
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        alpn: socket.alpnProtocol,
        peer: socket.getPeerCertificate(true).raw,
        session: session ?? (socket.getProtocol() === "TLSv1.2" ? socket.getSession() : undefined),
        reused: socket.isSessionReused(),
      });
      socket.destroy();
    });
  });
}

describe("message limits", () => {
  let api: TestService;
  let internal: TestService;
  before(async () => {
    api = await startStorage({ identity: server });
    internal = await startStorage({ identity: server, maxMessageBytes: INTERNAL_MAX_MESSAGE_BYTES });
  });
  after(() => {
    api.server.close();
    internal.server.close();
  });

  test("an internal hop carries more than the API accepts (records hold payloads as JSON numbers)", async () => {
    assert.ok(INTERNAL_MAX_MESSAGE_BYTES >= 4 * DEFAULT_MAX_MESSAGE_BYTES);
    const big = Buffer.alloc(DEFAULT_MAX_MESSAGE_BYTES + 1024, 7);
    const toApi = storageClient(api.port, { verifyServer: acceptOnly(server) });
    const refused = await rejection(callUnary(toApi, "get", { key: big }, { deadlineMs: 30_000 }));
    assert.equal(refused.code, Status.RESOURCE_EXHAUSTED);
    const toInternal = storageClient(internal.port, { verifyServer: acceptOnly(server) });
    const res = await callUnary(toInternal, "get", { key: big }, { deadlineMs: 30_000 });
    assert.equal(res.value.length, big.length);
  });
});
