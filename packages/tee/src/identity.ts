// A service's attested TLS identity: key pair + attested certificate, renewed periodically
// so that new connections present fresh evidence.
import { EventEmitter } from "node:events";
import { AttestationError } from "@cloister/core";
import type { AttestationService } from "./attestation-service.js";
import { buildAttestedCertificate, generateAttestedKeyPair, reportDataOf } from "./attested-cert.js";
import type { TeeProvider } from "./provider.js";
import { QUOTE_BODY_LENGTH } from "./quote.js";
import { pemEncode } from "./x509.js";

/** `attestation_validity_secs` of the legacy build: 3600 s. */
export const DEFAULT_REATTEST_INTERVAL_MS = 3_600_000;
/** After a failed renewal, try again this soon (the previous certificate stays in use). */
const RETRY_AFTER_FAILURE_MS = 60_000;

export interface AttestedCredentials {
  /** PKCS#8 PEM of the P-256 private key. Secret: never log it. */
  privateKeyPem: string;
  certificatePem: string;
  certificateDer: Buffer;
  /** When these credentials were created. */
  createdAt: Date;
}

export interface AttestedIdentityOptions {
  provider: TeeProvider;
  attestationService: AttestationService;
  /** Re-attestation period; default 3600 s. */
  reattestIntervalMs?: number;
}

/**
 * Produces fresh attested credentials: new P-256 key, quote binding it, endorsement,
 * certificate. Exposed on its own for one-shot use (CLI tools, tests).
 */
export async function attest(
  provider: TeeProvider,
  service: AttestationService,
): Promise<AttestedCredentials> {
  const keyPair = generateAttestedKeyPair();
  const quote = await provider.quote(reportDataOf(keyPair.publicKey));
  if (!Buffer.isBuffer(quote) || quote.length < QUOTE_BODY_LENGTH) {
    throw new AttestationError("TEE provider returned a malformed quote");
  }
  const endorsement = await service.endorse(quote);
  const createdAt = new Date();
  const certificateDer = buildAttestedCertificate({ keyPair, endorsement, now: createdAt });
  return {
    privateKeyPem: keyPair.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
    certificatePem: pemEncode("CERTIFICATE", certificateDer),
    certificateDer,
    createdAt,
  };
}

export interface AttestedIdentityEvents {
  /** New credentials are current; use them for new connections. */
  renewed: [AttestedCredentials];
  /** A renewal failed; the previous credentials stay current and a retry is scheduled. */
  renewalFailed: [Error];
}

export class AttestedIdentity extends EventEmitter<AttestedIdentityEvents> {
  private creds: AttestedCredentials;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private renewing: Promise<AttestedCredentials> | undefined;

  private constructor(
    private readonly o: Required<AttestedIdentityOptions>,
    initial: AttestedCredentials,
  ) {
    super();
    this.creds = initial;
    this.schedule(o.reattestIntervalMs);
  }

  /** Attests once (failing if that fails), then keeps re-attesting in the background. */
  static async create(o: AttestedIdentityOptions): Promise<AttestedIdentity> {
    const interval = o.reattestIntervalMs ?? DEFAULT_REATTEST_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval <= 0)
      throw new AttestationError("reattestIntervalMs must be positive");
    const initial = await attest(o.provider, o.attestationService);
    return new AttestedIdentity({ ...o, reattestIntervalMs: interval }, initial);
  }

  get provider(): TeeProvider {
    return this.o.provider;
  }

  /** The newest credentials. */
  current(): AttestedCredentials {
    return this.creds;
  }

  /** Re-attests now; concurrent calls share one renewal. */
  renew(): Promise<AttestedCredentials> {
    if (this.closed) return Promise.reject(new AttestationError("attested identity is closed"));
    this.renewing ??= attest(this.o.provider, this.o.attestationService)
      .then((c) => {
        if (!this.closed) {
          this.creds = c;
          this.emit("renewed", c);
        }
        return c;
      })
      .finally(() => {
        this.renewing = undefined;
      });
    return this.renewing;
  }

  /** Stops re-attestation. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.renew().then(
        () => this.schedule(this.o.reattestIntervalMs),
        (e: unknown) => {
          if (this.closed) return;
          this.emit("renewalFailed", e instanceof Error ? e : new Error(String(e)));
          this.schedule(Math.min(RETRY_AFTER_FAILURE_MS, this.o.reattestIntervalMs));
        },
      );
    }, ms);
    this.timer.unref();
  }
}
