import { createHash, randomBytes, verify as verifySignature } from "node:crypto";
import { Duplex } from "node:stream";
import { connect, type TLSSocket } from "node:tls";
import type { Instance, PreparedRuntime } from "./backend.js";
import { LibosError } from "./errors.js";
import {
  type AgentCertificate,
  bootReportData,
  commitReportData,
  EVIDENCE_SCHEMA,
  type EvidenceIssuer,
  parseAgentCertificate,
  type RuntimeTrust,
  resultPreimage,
  type TaskEvidence,
  verifyEndorsed,
} from "./evidence.js";
import { type Frame, FrameReader, writeFrame } from "./frame.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest();

/** The node's own attested TLS identity, presented to the agent as a client certificate. */
export interface NodeCredentials {
  privateKeyPem: string;
  certificatePem: string;
}

export interface SessionOptions {
  runtime: PreparedRuntime;
  /** Name of the runtime's runtime_info.toml entry (the accepted measurement). */
  runtimeName: string;
  issuer: EvidenceIssuer;
  trust: RuntimeTrust;
  credentials: NodeCredentials;
  /** Largest message accepted from the guest. */
  maxFrameBytes?: number;
}

export interface TaskOffer {
  taskId: string;
  payload: Buffer;
  /** Canonical JSON of the run spec (argv, env, files, limits), bound by the commit. */
  spec: Buffer;
  inputs: Map<string, Buffer>;
  /**
   * The payload hash the node expects (e.g. the one data owners approved); default the payload's
   * own. The agent refuses a payload that does not match it.
   */
  expectedPayloadSha256?: Buffer;
  /**
   * The task log's lines (the payload's stderr) as the agent sends them while the payload runs.
   * The full stderr still comes with the result.
   */
  onLog?: (line: string) => void;
}

/** Bounds the node puts on live log lines whatever the agent sends (the agent's own are tighter). */
const MAX_LOG_LINE_CHARS = 16 * 1024 + 8;
const MAX_LOG_BYTES = 1024 * 1024 + 64 * 1024;

export interface GuestResult {
  exit: number;
  signal: string;
  stdout: Buffer;
  stderr: Buffer;
  outputs: Map<string, Buffer>;
  evidence: TaskEvidence;
}

/**
 * The node's side of one instance: boot (hello → boot evidence → mutually attested TLS over the
 * instance's stdio), then exactly one task (offer → verified commit → inputs → signed result).
 * Anything the guest sends is checked before it is believed.
 */
export class GuestSession {
  private constructor(
    private readonly tls: TLSSocket,
    private readonly reader: FrameReader,
    private readonly options: SessionOptions,
    readonly agent: AgentCertificate,
    readonly simulated: boolean,
  ) {}

  private used = false;

  static async open(instance: Instance, options: SessionOptions): Promise<GuestSession> {
    const raw = new FrameReader(instance.output, 1 << 20);
    const nonce = randomBytes(32);
    const died = instance.exited.then((x) => {
      raw.fail(
        new LibosError("launch", `the instance exited during boot (code ${x.code}, signal ${x.signal})`),
      );
    });
    writeFrame(instance.input, "hello", {
      nonce: nonce.toString("hex"),
      runtime: options.runtime.image.runtime,
    });
    let f = await raw.next();
    if (f.t !== "evidence-request") throw new LibosError("protocol", `expected evidence-request, got ${f.t}`);
    writeFrame(instance.input, "evidence", {}, [await endorse(f, options)]);
    f = await raw.next();
    if (f.t !== "ready") throw new LibosError("protocol", `expected ready, got ${f.t}`);
    const leftover = raw.detach();
    if (leftover.length) throw new LibosError("protocol", "the guest spoke before the TLS handshake");
    void died;

    const socket = Duplex.from({ readable: instance.output, writable: instance.input });
    const tls = connect({
      socket,
      key: options.credentials.privateKeyPem,
      cert: options.credentials.certificatePem,
      minVersion: "TLSv1.3",
      // The agent's certificate is self-signed; it is verified below from its evidence.
      rejectUnauthorized: false,
      servername: "cloister-guest",
    });
    await new Promise<void>((resolve, reject) => {
      tls.once("secureConnect", resolve);
      tls.once("error", (e) =>
        reject(new LibosError("protocol", `TLS with the guest failed: ${e.message}`, { cause: e })),
      );
      instance.exited.then(() =>
        reject(new LibosError("launch", "the instance exited during the TLS handshake")),
      );
    });
    const peer = tls.getPeerCertificate(false);
    if (!peer?.raw) throw new LibosError("evidence", "the guest presented no certificate");
    const agent = parseAgentCertificate(peer.raw);
    if (agent.claims.nonce !== nonce.toString("hex"))
      throw new LibosError("evidence", "agent evidence is not fresh (nonce)");
    if (agent.claims.runtime !== options.runtime.image.runtime)
      throw new LibosError("evidence", "agent claims another runtime");
    const verified = verifyEndorsed(agent.evidence, bootReportData(agent.claimsBytes), options.trust);
    if (verified.mrEnclave !== options.runtime.measurement || verified.name !== options.runtimeName) {
      throw new LibosError("evidence", "agent attests a measurement other than this runtime's");
    }
    const reader = new FrameReader(tls, options.maxFrameBytes ?? 1 << 30);
    return new GuestSession(tls, reader, options, agent, verified.simulated);
  }

  /**
   * Runs the one task of this instance. Inputs are sent only after the commit has verified.
   * The caller kills the instance afterwards, whatever happened.
   */
  async run(task: TaskOffer): Promise<GuestResult> {
    if (this.used) throw new LibosError("protocol", "an instance runs one task only");
    this.used = true;
    // The channel's end (not the launcher's exit, which can overtake the last bytes) tells
    // that the instance is gone.
    this.reader.setEndError(
      new LibosError(
        "payload",
        "the LibOS instance was killed before it returned a result (a limit such as memory, or a crash)",
      ),
    );
    const nonce = randomBytes(32);
    const payloadSha = task.expectedPayloadSha256 ?? sha256(task.payload);
    const specSha = sha256(task.spec);
    writeFrame(
      this.tls,
      "offer",
      {
        taskId: task.taskId,
        nonce: nonce.toString("hex"),
        payloadSha256: payloadSha.toString("hex"),
        specSha256: specSha.toString("hex"),
      },
      [task.payload, task.spec],
    );
    const expected = commitReportData(task.taskId, nonce, payloadSha, specSha, this.agent.spkiHash);
    let f = await this.next();
    while (f.t === "evidence-request") {
      writeFrame(this.tls, "evidence", {}, [await endorse(f, this.options)]);
      f = await this.next();
    }
    if (f.t !== "commit" || f.blobs.length !== 1)
      throw new LibosError("protocol", `expected commit, got ${f.t}`);
    const commitEvidence = f.blobs[0]!;
    const peer = verifyEndorsed(commitEvidence, expected, this.options.trust);
    if (peer.mrEnclave !== this.options.runtime.measurement)
      throw new LibosError("evidence", "commit measures another runtime");

    const names = [...task.inputs.keys()];
    writeFrame(
      this.tls,
      "inputs",
      names,
      names.map((n) => task.inputs.get(n)!),
    );
    f = await this.next();
    let logBytes = 0;
    while (f.t === "log") {
      const line = (f.body as { line?: unknown } | null)?.line;
      if (typeof line !== "string" || f.blobs.length !== 0)
        throw new LibosError("protocol", "malformed log line from the guest");
      const kept = line.slice(0, MAX_LOG_LINE_CHARS);
      logBytes += Buffer.byteLength(kept) + 1;
      if (logBytes <= MAX_LOG_BYTES) task.onLog?.(kept);
      f = await this.next();
    }
    if (f.t !== "result") throw new LibosError("protocol", `expected result, got ${f.t}`);
    const body = f.body as { exit?: unknown; signal?: unknown; outputs?: unknown; signature?: unknown };
    const outNames = Array.isArray(body.outputs) ? (body.outputs as unknown[]) : [];
    if (
      typeof body.exit !== "number" ||
      typeof body.signature !== "string" ||
      f.blobs.length !== 2 + outNames.length ||
      !outNames.every((n) => typeof n === "string")
    ) {
      throw new LibosError("protocol", "malformed result from the guest");
    }
    const [stdout, stderr, ...data] = f.blobs as [Buffer, Buffer, ...Buffer[]];
    const outputs = new Map<string, Buffer>();
    const outputHashes: Record<string, Buffer> = {};
    (outNames as string[]).forEach((n, i) => {
      outputs.set(n, data[i]!);
      outputHashes[n] = sha256(data[i]!);
    });
    const signature = Buffer.from(body.signature, "hex");
    const stdoutSha = sha256(stdout);
    const ok = verifySignature(
      "sha256",
      resultPreimage(expected, body.exit, stdoutSha, outputHashes),
      this.agent.publicKey,
      signature,
    );
    if (!ok) throw new LibosError("evidence", "the result is not signed by the attested agent key");
    return {
      exit: body.exit,
      signal: typeof body.signal === "string" ? body.signal : "",
      stdout,
      stderr,
      outputs,
      evidence: {
        schema: EVIDENCE_SCHEMA,
        taskId: task.taskId,
        backend: this.options.runtime.backend,
        runtime: this.options.runtimeName,
        measurement: this.options.runtime.measurement,
        simulated: this.simulated,
        payloadSha256: payloadSha.toString("hex"),
        specSha256: specSha.toString("hex"),
        spec: task.spec.toString("utf8"),
        nonce: nonce.toString("hex"),
        agentCertificate: this.tls.getPeerCertificate(false).raw.toString("base64"),
        commitEvidence: commitEvidence.toString("base64"),
        result: {
          exit: body.exit,
          stdoutSha256: stdoutSha.toString("hex"),
          outputs: Object.fromEntries(Object.entries(outputHashes).map(([k, v]) => [k, v.toString("hex")])),
        },
        resultSignature: signature.toString("base64"),
      },
    };
  }

  private async next(): Promise<Frame> {
    const f = await this.reader.next();
    if (f.t === "error") {
      const b = (f.body ?? {}) as { code?: string; message?: string };
      const code =
        b.code === "payload-hash"
          ? "payload-hash"
          : b.code === "stdout-too-large" || b.code === "output-too-large"
            ? "limit"
            : "payload";
      throw new LibosError(code, String(b.message ?? "the guest failed").slice(0, 300));
    }
    return f;
  }

  close(): void {
    this.tls.destroy();
  }
}

async function endorse(f: Frame, options: SessionOptions): Promise<Buffer> {
  const b = (f.body ?? {}) as { reportData?: unknown; quote?: unknown };
  if (typeof b.reportData !== "string" || !/^[0-9a-f]{128}$/.test(b.reportData)) {
    throw new LibosError("protocol", "malformed evidence request");
  }
  const quote = typeof b.quote === "string" ? Buffer.from(b.quote, "hex") : undefined;
  return options.issuer.endorse(
    { reportData: Buffer.from(b.reportData, "hex"), ...(quote ? { quote } : {}) },
    options.runtime,
  );
}
