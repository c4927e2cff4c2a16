import "reflect-metadata";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { storage } from "@cloister/proto";
import {
  attestedChannelCredentials,
  type ClientTransport,
  callUnary,
  createAttestedServer,
  createClient,
  localClient,
  type ServerTransport,
  serve,
  unary,
  uniformPolicy,
} from "@cloister/rpc";
import * as grpc from "@grpc/grpc-js";
import * as x509 from "@peculiar/x509";
import { percentile } from "./stats.js";

export const handlers = {
  get: unary(async (req: storage.GetRequest) => ({ value: req.key })),
  put: unary(async () => ({})),
  delete: unary(async () => ({})),
  enqueue: unary(async () => ({})),
  dequeue: unary(async () => ({ value: Buffer.alloc(0) })),
  getKeysByPrefix: unary(async () => ({ keys: [] })),
};

const KEY = Buffer.from("hello-32-bytes-of-payload-000000");

/** `n` sequential round trips (ms each) of one trivial `get`, after 200 to warm up. */
async function sequentialSamples(client: storage.TeaclaveStorageClient, n: number): Promise<number[]> {
  for (let i = 0; i < 200; i++) await callUnary(client, "get", { key: KEY });
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await callUnary(client, "get", { key: KEY });
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return samples;
}

async function roundTrips(client: storage.TeaclaveStorageClient, n: number) {
  const key = KEY;
  const samples = await sequentialSamples(client, n);
  const start = process.hrtime.bigint();
  let done = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (done < n) {
        done++;
        await callUnary(client, "get", { key });
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), perSec: n / secs };
}

export async function selfSigned() {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=bench",
    keys,
    signingAlgorithm: alg,
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64")}\n-----END PRIVATE KEY-----\n`;
  return { privateKeyPem, certificatePem: cert.toString("pem"), certificateDer: Buffer.from(cert.rawData) };
}

/**
 * p50 (ms) of one attested unary call to a server in another process (bench/src/echo-server.ts):
 * what every hop between two services costs at least, scheduling of the peer process included.
 */
export async function crossProcessAttestedP50(n = 1000): Promise<number> {
  const child = spawn(process.execPath, [fileURLToPath(new URL("./echo-server.js", import.meta.url))], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const [line] = (await once(child.stdout!, "data")) as [Buffer];
    const port = Number(JSON.parse(line.toString()).port);
    const cert = await selfSigned();
    const identity = { current: () => cert, on: () => undefined };
    const accept = () => ({ name: "bench", mrEnclave: "", mrSigner: "", simulated: true });
    const client = createClient(
      storage.TeaclaveStorageClient,
      `localhost:${port}`,
      attestedChannelCredentials({ verifyServer: accept, identity }),
    );
    try {
      return percentile(await sequentialSamples(client, n), 50);
    } finally {
      client.close();
    }
  } finally {
    child.kill();
  }
}

/** The trivial storage service over our attested mutual TLS, and a client of it, in this process. */
async function attestedPair(transport?: ClientTransport, serverTransport?: ServerTransport) {
  const cert = await selfSigned();
  const identity = { current: () => cert, on: () => undefined };
  const accept = () => ({ name: "bench", mrEnclave: "", mrSigner: "", simulated: true });
  const server = createAttestedServer({
    identity,
    verifyClient: accept,
    ...(serverTransport ? { transport: serverTransport } : {}),
  });
  server.addService(storage.TeaclaveStorageService, handlers);
  const port = await server.listen("127.0.0.1:0");
  const client = createClient(
    storage.TeaclaveStorageClient,
    `localhost:${port}`,
    attestedChannelCredentials({ verifyServer: accept, identity }),
    transport ? { transport } : {},
  );
  return {
    client,
    async close() {
      client.close();
      await server.close();
    },
  };
}

/** p50 (ms) of one unary call over our attested mutual TLS, client and server in this process. */
export async function attestedUnaryP50(n = 1000): Promise<number> {
  const { client, close } = await attestedPair();
  try {
    return percentile(await sequentialSamples(client, n), 50);
  } finally {
    await close();
  }
}

/**
 * p50 (ms) of the same trivial unary through the in-process transport (`localClient`): the
 * service registered with serve() (the authorisation layer, the request guard, both messages
 * encoded and decoded) and called from this process without TLS, HTTP/2 or grpc-js.
 */
export async function localUnaryP50(n = 1000): Promise<number> {
  const cert = await selfSigned();
  const identity = { current: () => cert, on: () => undefined };
  const peer = { name: "bench", mrEnclave: "", mrSigner: "", simulated: true };
  const server = createAttestedServer({ identity, verifyClient: () => peer });
  serve<storage.TeaclaveStorageServer>(
    server,
    storage.TeaclaveStorageService,
    {
      get: async (req) => ({ value: req.key }),
      put: async () => ({}),
      delete: async () => ({}),
      enqueue: async () => ({}),
      dequeue: async () => ({ value: Buffer.alloc(0) }),
      getKeysByPrefix: async () => ({ keys: [] }),
    },
    { layers: [], policy: uniformPolicy(storage.TeaclaveStorageService, "peer") },
  );
  const client = localClient(storage.TeaclaveStorageClient, server, peer);
  try {
    return percentile(await sequentialSamples(client, n), 50);
  } finally {
    await server.close();
  }
}

/** The same unary call over bare grpc-js (plaintext h2c) and over our attested-TLS channel. */
export async function benchGrpc(n = 3000): Promise<Record<string, number>> {
  const bare = new grpc.Server();
  bare.addService(storage.TeaclaveStorageService, handlers);
  const barePort = await new Promise<number>((resolve, reject) =>
    bare.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const bareClient = new storage.TeaclaveStorageClient(
    `127.0.0.1:${barePort}`,
    grpc.credentials.createInsecure(),
  );
  const b = await roundTrips(bareClient, n);
  bareClient.close();
  bare.forceShutdown();

  const attested = await attestedPair();
  const a = await roundTrips(attested.client, n);
  await attested.close();
  const viaGrpcJs = await attestedPair("grpc-js");
  const g = await roundTrips(viaGrpcJs.client, n);
  await viaGrpcJs.close();
  const onGrpcJsServer = await attestedPair(undefined, "grpc-js");
  const gs = await roundTrips(onGrpcJsServer.client, n);
  await onGrpcJsServer.close();
  const local = await localUnaryP50(n);
  return {
    "grpc-js bare unary p50 ms": b.p50,
    "grpc-js bare unary p99 ms": b.p99,
    "grpc-js bare calls/s (32 concurrent)": b.perSec,
    "attested mTLS unary p50 ms": a.p50,
    "attested mTLS unary p99 ms": a.p99,
    "attested mTLS calls/s (32 concurrent)": a.perSec,
    "attested mTLS, grpc-js client, unary p50 ms": g.p50,
    "attested mTLS, grpc-js client, calls/s (32 concurrent)": g.perSec,
    "attested mTLS, grpc-js server, unary p50 ms": gs.p50,
    "attested mTLS, grpc-js server, calls/s (32 concurrent)": gs.perSec,
    // Microseconds: two decimals of a millisecond would round it away.
    "in-process (localClient) unary p50 µs": local * 1000,
  };
}
