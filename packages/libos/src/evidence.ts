import { createHash, createPublicKey, type KeyObject, verify as verifySignature } from "node:crypto";
import {
  type AcceptedEnclave,
  type AttestationService,
  buildSimulatedQuoteBody,
  encodePayload,
  parseCertificate,
  type VerifiedPeer,
  verifyAttestationEvidence,
} from "@cloister/tee";
import type { PreparedRuntime } from "./backend.js";
import { LibosError } from "./errors.js";

/** Certificate extensions of the agent (Cloister's arc; not registered with IANA). */
export const OID_CLAIMS = "1.3.6.1.4.1.59999.7.1";
export const OID_EVIDENCE = "1.3.6.1.4.1.59999.7.2";
export const COMMIT_DOMAIN = "cloister/libos/commit/1";
export const RESULT_DOMAIN = "cloister/libos/result/1";
export const EVIDENCE_SCHEMA = "cloister.libos.evidence/1";

const sha256 = (...parts: (Buffer | string)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Gets evidence endorsed for a guest's report data (and its hardware quote, if it has one). */
export interface EvidenceIssuer {
  readonly simulated: boolean;
  endorse(request: { reportData: Buffer; quote?: Buffer }, runtime: PreparedRuntime): Promise<Buffer>;
}

/**
 * Simulated evidence for backends without a TEE (gvisor, bwrap): the node builds a quote marked
 * CLOISTER-SIMULATED over the measurement it predicted and has the (simulated) attestation
 * service sign it. It proves only that this node vouches for the measurement, and says so.
 */
export class SimEvidenceIssuer implements EvidenceIssuer {
  readonly simulated = true;
  constructor(
    private readonly attestation: AttestationService,
    private readonly mrSigner: Buffer,
  ) {}

  async endorse(request: { reportData: Buffer; quote?: Buffer }, runtime: PreparedRuntime): Promise<Buffer> {
    if (request.quote) throw new LibosError("evidence", "a simulated backend's guest sent a hardware quote");
    if (request.reportData.length !== 64)
      throw new LibosError("protocol", "guest report data must be 64 bytes");
    const body = buildSimulatedQuoteBody({
      mrEnclave: Buffer.from(runtime.measurement, "hex"),
      mrSigner: this.mrSigner,
      reportData: request.reportData,
    });
    return encodePayload(await this.attestation.endorse(body));
  }
}

/** Whom a node or a data owner trusts for LibOS evidence: the AS root and runtime_info.toml. */
export interface RuntimeTrust {
  asRootCa: string | Buffer;
  /** Runtime measurements (name → mr_enclave, mr_signer) from the auditor-signed runtime_info.toml. */
  accepted: AcceptedEnclave[];
  acceptedStatuses?: string[];
  now?: Date;
}

/** Verifies endorsed evidence whose quote must carry exactly `reportData`. Throws LibosError("evidence"). */
export function verifyEndorsed(payload: Buffer, reportData: Buffer, trust: RuntimeTrust): VerifiedPeer {
  if (reportData.length !== 64) throw new LibosError("evidence", "report data must be 64 bytes");
  try {
    // The tee verifier compares the quote's REPORTDATA with a key point's X‖Y; handing it
    // 0x04‖reportData makes it check the exact 64 bytes we expect.
    const { peer } = verifyAttestationEvidence(
      Buffer.from(payload),
      Buffer.concat([Buffer.from([4]), reportData]),
      {
        asRootCa: trust.asRootCa,
        accepted: trust.accepted,
        ...(trust.acceptedStatuses ? { acceptedStatuses: trust.acceptedStatuses } : {}),
        ...(trust.now ? { now: trust.now } : {}),
      },
    );
    return peer;
  } catch (e) {
    if (e instanceof LibosError) throw e;
    const msg = (e as Error).message.includes("does not match the report data")
      ? "evidence does not commit to this data"
      : (e as Error).message;
    throw new LibosError("evidence", msg, { cause: e });
  }
}

export interface AgentClaims {
  v: number;
  runtime: string;
  nonce: string;
  pubkeyHash: string;
}

export interface AgentCertificate {
  claims: AgentClaims;
  claimsBytes: Buffer;
  evidence: Buffer;
  publicKey: KeyObject;
  spkiHash: Buffer;
}

/** Reads the agent's RA-TLS-shaped certificate: its claims, boot evidence and key. */
export function parseAgentCertificate(der: Buffer): AgentCertificate {
  let cert: ReturnType<typeof parseCertificate>;
  try {
    cert = parseCertificate(der);
  } catch (e) {
    throw new LibosError("evidence", `agent certificate unreadable: ${(e as Error).message}`, { cause: e });
  }
  const ext = (oid: string) => cert.extensions.find((x) => x.oid === oid)?.value;
  const claimsBytes = ext(OID_CLAIMS);
  const evidence = ext(OID_EVIDENCE);
  if (!claimsBytes || !evidence)
    throw new LibosError("evidence", "agent certificate lacks claims or evidence");
  let claims: AgentClaims;
  try {
    claims = JSON.parse(claimsBytes.toString("utf8")) as AgentClaims;
  } catch {
    throw new LibosError("evidence", "agent claims are not JSON");
  }
  const publicKey = createPublicKey({ key: cert.spki, format: "der", type: "spki" });
  const spkiHash = sha256(cert.spki);
  if (
    claims.v !== 1 ||
    typeof claims.pubkeyHash !== "string" ||
    claims.pubkeyHash !== spkiHash.toString("hex")
  ) {
    throw new LibosError("evidence", "agent claims do not name the certificate's key");
  }
  return { claims, claimsBytes, evidence, publicKey, spkiHash };
}

/** REPORTDATA of the agent's boot evidence: SHA-256 of its claims, zero-padded. */
export const bootReportData = (claimsBytes: Buffer): Buffer =>
  Buffer.concat([sha256(claimsBytes), Buffer.alloc(32)]);

/** REPORTDATA of a task commit: what the agent promised to run, and under which key. */
export function commitReportData(
  taskId: string,
  nonce: Buffer,
  payloadSha256: Buffer,
  specSha256: Buffer,
  spkiHash: Buffer,
): Buffer {
  const len = Buffer.alloc(4);
  const id = Buffer.from(taskId, "utf8");
  len.writeUInt32BE(id.length);
  return Buffer.concat([sha256(COMMIT_DOMAIN, len, id, nonce, payloadSha256, specSha256), spkiHash]);
}

/** What the agent's result signature covers (it signs SHA-256 of this). */
export function resultPreimage(
  commitRd: Buffer,
  exit: number,
  stdoutSha256: Buffer,
  outputs: Record<string, Buffer>,
): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  };
  const names = Object.keys(outputs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const parts: Buffer[] = [
    Buffer.from(RESULT_DOMAIN),
    commitRd,
    u32(exit | 0),
    stdoutSha256,
    u32(names.length),
  ];
  for (const n of names) parts.push(u32(Buffer.byteLength(n)), Buffer.from(n), outputs[n]!);
  return Buffer.concat(parts);
}

/** Task evidence as kept with the task and shown to its participants. */
export interface TaskEvidence {
  schema: typeof EVIDENCE_SCHEMA;
  taskId: string;
  backend: string;
  runtime: string;
  measurement: string;
  simulated: boolean;
  /** SHA-256 (hex) of the function payload the agent ran. */
  payloadSha256: string;
  /** SHA-256 (hex) of the run spec (argv, env, files, limits) and the spec itself. */
  specSha256: string;
  spec: string;
  nonce: string;
  /** The agent's certificate (base64 DER): its key and boot evidence. */
  agentCertificate: string;
  /** Endorsed commit evidence (base64). */
  commitEvidence: string;
  result: { exit: number; stdoutSha256: string; outputs: Record<string, string> };
  /** The agent's ECDSA P-256 signature (base64 DER) over the result. */
  resultSignature: string;
}

export interface VerifiedTaskEvidence {
  runtime: string;
  measurement: string;
  simulated: boolean;
  payloadSha256: string;
  exit: number;
  stdoutSha256: string;
  outputs: Record<string, string>;
}

const HEX32 = /^[0-9a-f]{64}$/;

/**
 * Checks task evidence end to end: it names `taskId` (no replay from another task), the commit
 * evidence is endorsed under the trusted root for a runtime listed in runtime_info.toml and
 * commits to this task, nonce, payload and spec under the agent's key, and the result is signed
 * by that key over that commit. Throws LibosError("evidence").
 */
export function verifyTaskEvidence(
  ev: TaskEvidence,
  trust: RuntimeTrust,
  expect: { taskId: string; payloadSha256?: string },
): VerifiedTaskEvidence {
  const bad = (m: string) => new LibosError("evidence", m);
  if (ev?.schema !== EVIDENCE_SCHEMA) throw bad("not LibOS task evidence");
  if (ev.taskId !== expect.taskId)
    throw bad(`evidence is for task ${String(ev.taskId).slice(0, 64)}, not ${expect.taskId}`);
  for (const [k, v] of [
    ["payloadSha256", ev.payloadSha256],
    ["specSha256", ev.specSha256],
    ["nonce", ev.nonce],
    ["stdoutSha256", ev.result?.stdoutSha256],
  ] as const) {
    if (typeof v !== "string" || !HEX32.test(v)) throw bad(`evidence field ${k} malformed`);
  }
  if (expect.payloadSha256 && expect.payloadSha256.toLowerCase() !== ev.payloadSha256)
    throw bad("evidence is for another payload");
  if (sha256(Buffer.from(ev.spec ?? "", "utf8")).toString("hex") !== ev.specSha256)
    throw bad("run spec does not match its hash");
  const agent = parseAgentCertificate(Buffer.from(ev.agentCertificate, "base64"));
  const rd = commitReportData(
    ev.taskId,
    Buffer.from(ev.nonce, "hex"),
    Buffer.from(ev.payloadSha256, "hex"),
    Buffer.from(ev.specSha256, "hex"),
    agent.spkiHash,
  );
  const peer = verifyEndorsed(Buffer.from(ev.commitEvidence, "base64"), rd, trust);
  const boot = verifyEndorsed(agent.evidence, bootReportData(agent.claimsBytes), trust);
  if (boot.mrEnclave !== peer.mrEnclave) throw bad("commit and boot evidence measure different runtimes");
  const outputs: Record<string, Buffer> = {};
  for (const [n, h] of Object.entries(ev.result.outputs ?? {})) {
    if (!HEX32.test(h)) throw bad("evidence output hash malformed");
    outputs[n] = Buffer.from(h, "hex");
  }
  const ok = verifySignature(
    "sha256",
    resultPreimage(rd, ev.result.exit, Buffer.from(ev.result.stdoutSha256, "hex"), outputs),
    agent.publicKey,
    Buffer.from(ev.resultSignature, "base64"),
  );
  if (!ok) throw bad("result signature does not verify under the attested agent key");
  return {
    runtime: peer.name,
    measurement: peer.mrEnclave,
    simulated: peer.simulated,
    payloadSha256: ev.payloadSha256,
    exit: ev.result.exit,
    stdoutSha256: ev.result.stdoutSha256,
    outputs: ev.result.outputs,
  };
}
