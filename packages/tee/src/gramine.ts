// TEE provider for SGX enclaves run by Gramine: its pseudo-filesystem /dev/attestation
// (write 64 bytes to user_report_data, read a DCAP quote from quote).
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { AttestationError, KeyedMutex } from "@cloister/core";
import { teaclaveIdentityOf } from "./hardware.js";
import type { Measurement, TeeProvider } from "./provider.js";

/** The few file operations the provider needs; tests substitute a fake device. */
export interface DeviceFs {
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer): Promise<void>;
}
export const nodeDeviceFs: DeviceFs = {
  readFile: (p) => fs.readFile(p),
  writeFile: (p, d) => fs.writeFile(p, d),
};

const MAX_QUOTE = 64 * 1024;

export interface GramineProviderOptions {
  /** Default `/dev/attestation`. */
  root?: string;
  fs?: DeviceFs;
}

export class GramineTeeProvider implements TeeProvider {
  readonly kind = "gramine-sgx";
  readonly simulated = false;
  /** One device's report-data write and quote read are one transaction. */
  private readonly lock = new KeyedMutex<"device">();

  private constructor(
    private readonly root: string,
    private readonly dev: DeviceFs,
    readonly measurement: Measurement,
  ) {}

  /** Checks that Gramine attests with DCAP and reads the enclave's identity from a first quote. */
  static async create(o: GramineProviderOptions = {}): Promise<GramineTeeProvider> {
    const root = o.root ?? "/dev/attestation";
    const dev = o.fs ?? nodeDeviceFs;
    let type: string;
    try {
      type = (await dev.readFile(join(root, "attestation_type"))).toString("utf8").trim();
    } catch (e) {
      throw new AttestationError(`no Gramine attestation interface at ${root}: ${(e as Error).message}`);
    }
    if (type !== "dcap")
      throw new AttestationError(
        `Gramine attestation type is ${JSON.stringify(type.slice(0, 16))}; Cloister needs "dcap"`,
      );
    const probe = new GramineTeeProvider(root, dev, {
      mrEnclave: Buffer.alloc(32),
      mrSigner: Buffer.alloc(32),
    });
    const id = teaclaveIdentityOf(await probe.quote(Buffer.alloc(64)));
    if (id.tee !== "sgx") throw new AttestationError("Gramine returned evidence that is not an SGX quote");
    return new GramineTeeProvider(root, dev, { mrEnclave: id.mrEnclave, mrSigner: id.mrSigner });
  }

  /** A DCAP quote whose REPORTDATA is `reportData`. */
  quote(reportData: Buffer): Promise<Buffer> {
    if (reportData.length !== 64) throw new AttestationError("report data must be 64 bytes");
    return this.lock.run("device", async () => {
      await this.dev.writeFile(join(this.root, "user_report_data"), reportData);
      const quote = await this.dev.readFile(join(this.root, "quote"));
      if (quote.length > MAX_QUOTE) throw new AttestationError("Gramine quote is implausibly large");
      const id = teaclaveIdentityOf(quote);
      if (!id.reportData.equals(reportData))
        throw new AttestationError("Gramine quote does not carry the report data just written");
      return quote;
    });
  }
}
