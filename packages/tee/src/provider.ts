// TEE providers: where quotes come from. The simulated provider produces quotes in the DCAP
// layout with no hardware behind them and says so in the quote itself.
import { createHash, createPrivateKey, createPublicKey, generateKeyPair } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { AttestationError } from "@cloister/core";
import { readOrCreate } from "./files.js";
import { buildSimulatedQuoteBody } from "./quote.js";

/** Identity of the code a provider attests: MRENCLAVE and MRSIGNER, 32 bytes each. */
export interface Measurement {
  mrEnclave: Buffer;
  mrSigner: Buffer;
}

export interface TeeProvider {
  /** Short provider name, e.g. `"simulated"`, `"gramine-sgx"`, `"tdx-tsm"`. */
  readonly kind: string;
  /** True when quotes carry no hardware guarantee. */
  readonly simulated: boolean;
  readonly measurement: Measurement;
  /**
   * A 432-byte quote body whose REPORTDATA is `reportData` (64 bytes). Hardware
   * providers may return the full quote (body followed by signature data); the first 432
   * bytes are the body.
   */
  quote(reportData: Buffer): Buffer | Promise<Buffer>;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** Relative path of the release signing key inside a data directory. */
export const RELEASE_SIGNING_KEY_PATH = join("signer", "release-signing-key.pem");

/**
 * Loads (or creates on first use) the release signing key under `dataDir` and returns
 * MRSIGNER = SHA-256 of its public key (SPKI DER). Mirrors SGX, where MRSIGNER identifies the
 * key that signed the enclave.
 */
export async function loadReleaseSigner(dataDir: string): Promise<Buffer> {
  const pem = await readOrCreate(
    join(dataDir, RELEASE_SIGNING_KEY_PATH),
    async () => {
      const { privateKey } = await generateKeyPairAsync("rsa", { modulusLength: 3072 });
      return privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    },
    0o600,
  );
  const spki = createPublicKey(createPrivateKey(pem)).export({ format: "der", type: "spki" });
  return createHash("sha256").update(spki).digest();
}

export interface SimTeeProviderOptions {
  /** Measurement of the service code (see measureService / measureDirectories / measureCode). */
  mrEnclave: Buffer;
  /** Data directory holding `signer/release-signing-key.pem` (created on first use). */
  dataDir: string;
  /** Optional ISV product id / SVN written into the quote (not checked by verifiers). */
  isvProdId?: number;
  isvSvn?: number;
}

/**
 * Simulated TEE: quotes are built in software, marked `CLOISTER-SIMULATED` in the user-data
 * field, and give no hardware guarantee. Only an attestation service that trusts simulation
 * (SimAttestationService) endorses them.
 */
export class SimTeeProvider implements TeeProvider {
  readonly kind = "simulated";
  readonly simulated = true;

  private constructor(
    readonly measurement: Measurement,
    private readonly isv: { prodId: number; svn: number },
  ) {}

  static async create(o: SimTeeProviderOptions): Promise<SimTeeProvider> {
    if (!Buffer.isBuffer(o.mrEnclave) || o.mrEnclave.length !== 32) {
      throw new AttestationError("mrEnclave must be a 32-byte Buffer");
    }
    const mrSigner = await loadReleaseSigner(o.dataDir);
    return new SimTeeProvider(
      { mrEnclave: Buffer.from(o.mrEnclave), mrSigner },
      { prodId: o.isvProdId ?? 0, svn: o.isvSvn ?? 0 },
    );
  }

  /** Builds a simulated quote body; it is a pure function of the measurement and `reportData`. */
  quote(reportData: Buffer): Buffer {
    return buildSimulatedQuoteBody({
      mrEnclave: this.measurement.mrEnclave,
      mrSigner: this.measurement.mrSigner,
      reportData,
      isvProdId: this.isv.prodId,
      isvSvn: this.isv.svn,
    });
  }
}
