import "reflect-metadata";
import { createHash, webcrypto, X509Certificate } from "node:crypto";
import { EventEmitter } from "node:events";
import { AttestationError, CloisterError, Status, silentLogger } from "@cloister/core";
import { storage } from "@cloister/proto";
import * as x509 from "@peculiar/x509";
import {
  type AttestedServer,
  type CertificateSource,
  createAttestedServer,
  type PeerVerifier,
  peerOf,
  unary,
  type VerifiedPeerInfo,
} from "../src/index.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

interface Material {
  privateKeyPem: string;
  certificatePem: string;
  certificateDer: Buffer;
}

/** A Teaclave-shaped self-signed P-256 certificate (one extension, simulation-mode payload). */
export async function makeMaterial(): Promise<Material> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=Teaclave",
    notBefore: now,
    notAfter: new Date(now.getTime() + 90 * 86_400_000),
    signingAlgorithm: EC,
    keys,
    extensions: [
      new x509.Extension(
        "2.16.840.1.113730.1.13",
        false,
        new TextEncoder().encode('{"report":[],"signature":[],"certs":[]}'),
      ),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const b64 = pkcs8.toString("base64").replace(/.{64}/g, "$&\n");
  return {
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
    certificatePem: cert.toString("pem"),
    certificateDer: Buffer.from(cert.rawData),
  };
}

/** A CertificateSource whose certificate the test can renew. */
export class TestIdentity extends EventEmitter implements CertificateSource {
  private constructor(
    readonly name: string,
    private material: Material,
  ) {
    super();
  }
  static async create(name: string): Promise<TestIdentity> {
    return new TestIdentity(name, await makeMaterial());
  }
  current(): Material {
    return this.material;
  }
  override on(event: "renewed", listener: () => void): this {
    return super.on(event, listener);
  }
  async renew(): Promise<void> {
    this.material = await makeMaterial();
    this.emit("renewed");
  }
}

export function spkiFingerprint(der: Buffer): string {
  const spki = new X509Certificate(der).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("hex");
}

/**
 * Accepts exactly the current certificates of the given identities (matched by SPKI
 * fingerprint) and counts its invocations.
 */
export function acceptOnly(...identities: TestIdentity[]): PeerVerifier & { calls: number } {
  const verifier = (der: Buffer): VerifiedPeerInfo => {
    verifier.calls++;
    const fp = spkiFingerprint(der);
    const match = identities.find((i) => spkiFingerprint(i.current().certificateDer) === fp);
    if (!match) throw new AttestationError("Failed to verify mr_enclave");
    return { name: match.name, mrEnclave: fp.slice(0, 64), mrSigner: "00".repeat(32), simulated: true };
  };
  verifier.calls = 0;
  return verifier;
}

/** A tiny storage service: Get echoes the key, Put records calls; handler runs are counted. */
export interface TestService {
  server: AttestedServer;
  port: number;
  handlerRuns: number;
  lastPeer: VerifiedPeerInfo | undefined;
  puts: Buffer[];
}

export async function startStorage(
  opts: Parameters<typeof createAttestedServer>[0],
  extra: Partial<Record<string, unknown>> = {},
): Promise<TestService> {
  const server = createAttestedServer(opts);
  const state: TestService = { server, port: 0, handlerRuns: 0, lastPeer: undefined, puts: [] };
  server.addService(storage.TeaclaveStorageService, {
    get: unary<storage.GetRequest, storage.GetResponse>(async (req, call) => {
      state.handlerRuns++;
      state.lastPeer = peerOf(call);
      const key = req.key.toString();
      if (key === "missing") throw new CloisterError(Status.INVALID_ARGUMENT, "invalid key ü % ✓");
      if (key === "boom") throw new Error("db password=hunter2 leaked");
      return { value: req.key };
    }, silentLogger),
    put: unary<storage.PutRequest, Record<string, never>>(async (req) => {
      state.handlerRuns++;
      state.puts.push(req.value);
      return {};
    }, silentLogger),
    ...extra,
  });
  state.port = await server.listen("127.0.0.1:0");
  return state;
}

/**
 * A gRPC length-prefixed message built here, independently of the code under test: flag byte,
 * 4-byte big-endian length, bytes.
 */
export function framed(message: Uint8Array, flag = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  Buffer.from(message).copy(out, 5);
  return out;
}

/** A bound on how long something that must happen may take; only failure is reported. */
export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}
