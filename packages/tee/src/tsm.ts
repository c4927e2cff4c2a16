// TEE provider for TDX and SEV-SNP confidential VMs through Linux configfs-tsm
// (/sys/kernel/config/tsm/report): a private report instance; write inblob, read outblob
// (and auxblob), and check `generation` so that nobody else's write slipped in between.
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { AttestationError, KeyedMutex } from "@cloister/core";
import { teaclaveIdentityOf } from "./hardware.js";
import type { Measurement, TeeProvider } from "./provider.js";

export interface ConfigFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer): Promise<void>;
}
export const nodeConfigFs: ConfigFs = {
  mkdir: async (p) => {
    await fs.mkdir(p);
  },
  rmdir: (p) => fs.rmdir(p),
  readFile: (p) => fs.readFile(p),
  writeFile: (p, d) => fs.writeFile(p, d),
};

export interface TsmProviderOptions {
  /** Default `/sys/kernel/config/tsm/report`. */
  root?: string;
  /** Use this existing instance directory instead of creating a private one. */
  instance?: string;
  /** SNP: requested VMPL (`privlevel`). */
  privlevel?: number;
  fs?: ConfigFs;
  /** Attempts when another writer interferes (generation mismatch); default 3. */
  attempts?: number;
}

const PROVIDERS = { tdx_guest: "tdx", sev_guest: "sev-snp" } as const;
const MAX_BLOB = 1024 * 1024;

export class TsmTeeProvider implements TeeProvider {
  readonly simulated = false;
  private readonly lock = new KeyedMutex<"device">();
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly owned: boolean,
    private readonly cfs: ConfigFs,
    readonly tee: "tdx" | "sev-snp",
    private readonly o: TsmProviderOptions,
    public measurement: Measurement,
  ) {}

  get kind(): string {
    return this.tee === "tdx" ? "tdx-tsm" : "sev-snp-tsm";
  }

  static async create(o: TsmProviderOptions = {}): Promise<TsmTeeProvider> {
    const cfs = o.fs ?? nodeConfigFs;
    const root = o.root ?? "/sys/kernel/config/tsm/report";
    let dir = o.instance;
    const owned = !dir;
    if (!dir) {
      dir = join(root, `cloister-${process.pid}-${randomBytes(4).toString("hex")}`);
      try {
        await cfs.mkdir(dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new AttestationError(
          code === "ENXIO"
            ? "configfs-tsm has no provider (not a TDX or SEV-SNP guest?)"
            : `cannot create a configfs-tsm report at ${dir}: ${(e as Error).message}`,
        );
      }
    }
    try {
      const name = (await cfs.readFile(join(dir, "provider"))).toString("utf8").trim();
      const tee = PROVIDERS[name as keyof typeof PROVIDERS];
      if (!tee)
        throw new AttestationError(`unsupported configfs-tsm provider ${JSON.stringify(name.slice(0, 32))}`);
      const p = new TsmTeeProvider(dir, owned, cfs, tee, o, {
        mrEnclave: Buffer.alloc(32),
        mrSigner: Buffer.alloc(32),
      });
      const id = teaclaveIdentityOf(await p.quote(Buffer.alloc(64)));
      p.measurement = { mrEnclave: id.mrEnclave, mrSigner: id.mrSigner };
      return p;
    } catch (e) {
      if (owned) await cfs.rmdir(dir).catch(() => undefined);
      throw e instanceof AttestationError ? e : new AttestationError(`configfs-tsm: ${(e as Error).message}`);
    }
  }

  private async generation(): Promise<number> {
    const t = (await this.cfs.readFile(join(this.dir, "generation"))).toString("utf8").trim();
    if (!/^\d+$/.test(t)) throw new AttestationError("configfs-tsm generation is not a number");
    return Number(t);
  }

  private async once(reportData: Buffer): Promise<Buffer | undefined> {
    const before = await this.generation();
    let writes = 0;
    if (this.o.privlevel !== undefined) {
      await this.cfs.writeFile(join(this.dir, "privlevel"), Buffer.from(`${this.o.privlevel}\n`));
      writes++;
    }
    await this.cfs.writeFile(join(this.dir, "inblob"), reportData);
    writes++;
    const out = await this.cfs.readFile(join(this.dir, "outblob"));
    let aux: Buffer = Buffer.alloc(0);
    if (this.tee === "sev-snp")
      aux = await this.cfs.readFile(join(this.dir, "auxblob")).catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return Buffer.alloc(0);
        throw e;
      });
    const after = await this.generation();
    if (after !== before + writes) return undefined;
    if (out.length > MAX_BLOB || aux.length > MAX_BLOB)
      throw new AttestationError("configfs-tsm evidence is implausibly large");
    // SNP evidence travels with its certificate table, so verifiers get the VCEK with it.
    return aux.length ? Buffer.concat([out, aux]) : out;
  }

  /** TDX quote, or SNP report (+ certificate table), whose report data is `reportData`. */
  quote(reportData: Buffer): Promise<Buffer> {
    if (reportData.length !== 64) throw new AttestationError("report data must be 64 bytes");
    if (this.closed) return Promise.reject(new AttestationError("configfs-tsm provider is closed"));
    return this.lock.run("device", async () => {
      for (let i = 0; i < (this.o.attempts ?? 3); i++) {
        const ev = await this.once(reportData);
        if (!ev) continue;
        if (!teaclaveIdentityOf(ev).reportData.equals(reportData))
          throw new AttestationError("configfs-tsm evidence does not carry the report data just written");
        return ev;
      }
      throw new AttestationError(
        "configfs-tsm report was changed by another writer (generation mismatch); giving up",
      );
    });
  }

  /** Removes the private report instance. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.owned) await this.cfs.rmdir(this.dir).catch(() => undefined);
  }
}
