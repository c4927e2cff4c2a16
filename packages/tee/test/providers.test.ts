// The hardware providers against fake devices that behave like the kernel/Gramine interfaces
// (no SGX, TDX or SEV-SNP machine is available here). The evidence is real (public vectors);
// the fakes only put the written report data into it, as the hardware would.
import assert from "node:assert/strict";
import { existsSync, promises as fs, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { AttestationError } from "@cloister/core";
import {
  type ConfigFs,
  type DeviceFs,
  GramineTeeProvider,
  nodeConfigFs,
  nodeDeviceFs,
  TsmTeeProvider,
  teaclaveIdentityOf,
} from "../src/index.js";
import { tempDir } from "./helpers.js";

const VECTORS = new URL("../../../../fixtures/tee-evidence/", import.meta.url).pathname;
const SGX = readFileSync(join(VECTORS, "sgx-dcap/phala-v3/sgx_quote"));
const TDX = readFileSync(join(VECTORS, "tdx/phala-v4/tdx_quote"));
const SNP = readFileSync(join(VECTORS, "sev-snp/ms-v3-milan/milan_attestation_report.bin"));
const rd = (n: number) => Buffer.alloc(64, n);
const withReportData = (ev: Buffer, at: number, data: Buffer) => {
  const c = Buffer.from(ev);
  data.copy(c, at);
  return c;
};

/** Gramine's /dev/attestation: writing user_report_data makes the next quote carry it. */
function fakeGramine(root: string): DeviceFs {
  return {
    readFile: (p) => nodeDeviceFs.readFile(p),
    async writeFile(p, d) {
      if (p === join(root, "user_report_data")) {
        if (d.length !== 64) throw Object.assign(new Error("EINVAL"), { code: "EINVAL" });
        await fs.writeFile(join(root, "quote"), withReportData(SGX, 368, d));
      }
      await nodeDeviceFs.writeFile(p, d);
    },
  };
}

describe("gramine provider", () => {
  test("reads the enclave identity and returns quotes carrying the report data", async (t) => {
    const root = tempDir(t);
    writeFileSync(join(root, "attestation_type"), "dcap\n");
    const p = await GramineTeeProvider.create({ root, fs: fakeGramine(root) });
    assert.equal(p.simulated, false);
    assert.equal(
      p.measurement.mrEnclave.toString("hex"),
      "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
    );
    assert.equal(
      p.measurement.mrSigner.toString("hex"),
      "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6",
    );
    const [a, b] = await Promise.all([p.quote(rd(1)), p.quote(rd(2))]);
    assert.deepEqual(teaclaveIdentityOf(a).reportData, rd(1));
    assert.deepEqual(teaclaveIdentityOf(b).reportData, rd(2));
  });

  test("refuses a quote that does not carry what was written, non-DCAP attestation, and no device", async (t) => {
    const root = tempDir(t);
    writeFileSync(join(root, "attestation_type"), "dcap\n");
    writeFileSync(join(root, "quote"), SGX); // a plain directory: the quote never changes
    await assert.rejects(GramineTeeProvider.create({ root }), AttestationError);
    writeFileSync(join(root, "attestation_type"), "epid\n");
    await assert.rejects(GramineTeeProvider.create({ root, fs: fakeGramine(root) }), AttestationError);
    await assert.rejects(GramineTeeProvider.create({ root: join(root, "missing") }), AttestationError);
  });
});

/**
 * configfs-tsm as the kernel implements it: mkdir makes an instance with `provider` and
 * `generation`; every write bumps `generation`; reading `outblob` before any inblob write is
 * EINVAL. `extraBumps` simulates another process writing to the same instance.
 */
function fakeTsm(
  provider: "tdx_guest" | "sev_guest",
  o: { extraBumps?: number; aux?: Buffer } = {},
): ConfigFs {
  const gen = async (dir: string, by: number) => {
    const g = Number((await fs.readFile(join(dir, "generation"), "utf8")).trim());
    await fs.writeFile(join(dir, "generation"), `${g + by}\n`);
  };
  return {
    async mkdir(p) {
      await nodeConfigFs.mkdir(p);
      await fs.writeFile(join(p, "provider"), `${provider}\n`);
      await fs.writeFile(join(p, "generation"), "0\n");
    },
    rmdir: (p) => fs.rm(p, { recursive: true }),
    async readFile(p) {
      if (p.endsWith("/outblob") && !existsSync(p))
        throw Object.assign(new Error("EINVAL"), { code: "EINVAL" });
      return nodeConfigFs.readFile(p);
    },
    async writeFile(p, d) {
      const dir = join(p, "..");
      if (p.endsWith("/inblob")) {
        if (d.length > 64) throw Object.assign(new Error("EINVAL"), { code: "EINVAL" });
        const data = Buffer.concat([d, Buffer.alloc(64 - d.length)]);
        await fs.writeFile(
          join(dir, "outblob"),
          provider === "tdx_guest" ? withReportData(TDX, 48 + 520, data) : withReportData(SNP, 0x50, data),
        );
        if (o.aux) await fs.writeFile(join(dir, "auxblob"), o.aux);
      }
      await nodeConfigFs.writeFile(p, d);
      await gen(dir, 1 + (o.extraBumps ?? 0));
    },
  };
}

describe("tsm provider", () => {
  test("TDX: a private instance, evidence with the report data, generation checked, removed on close", async (t) => {
    const root = tempDir(t);
    const p = await TsmTeeProvider.create({ root, fs: fakeTsm("tdx_guest") });
    assert.equal(p.kind, "tdx-tsm");
    assert.equal(p.tee, "tdx");
    const ev = await p.quote(rd(7));
    assert.deepEqual(teaclaveIdentityOf(ev).reportData, rd(7));
    assert.equal(teaclaveIdentityOf(ev).tee, "tdx");
    assert.deepEqual(p.measurement.mrEnclave, teaclaveIdentityOf(TDX).mrEnclave);
    const [instance] = await fs.readdir(root);
    assert.match(instance!, /^cloister-\d+-[0-9a-f]{8}$/);
    await p.close();
    assert.deepEqual(await fs.readdir(root), []);
    await assert.rejects(p.quote(rd(1)), AttestationError);
  });

  test("SEV-SNP: the report is followed by the auxblob certificate table", async (t) => {
    const root = tempDir(t);
    const aux = Buffer.concat([Buffer.alloc(24), Buffer.from("certs")]);
    const p = await TsmTeeProvider.create({ root, fs: fakeTsm("sev_guest", { aux }), privlevel: 0 });
    assert.equal(p.kind, "sev-snp-tsm");
    const ev = await p.quote(rd(9));
    assert.equal(ev.length, SNP.length + aux.length);
    assert.deepEqual(ev.subarray(0x50, 0x90), rd(9));
    await p.close();
  });

  test("another writer between our write and read (generation mismatch) is detected", async (t) => {
    const root = tempDir(t);
    await assert.rejects(
      TsmTeeProvider.create({ root, fs: fakeTsm("tdx_guest", { extraBumps: 1 }) }),
      /generation/,
    );
    assert.deepEqual(await fs.readdir(root), [], "the instance is removed after a failed start");
  });

  test("a plain directory (no kernel behind it) fails the generation check; no provider is a typed error", async (t) => {
    const root = tempDir(t);
    const instance = join(root, "report0");
    mkdirSync(instance);
    writeFileSync(join(instance, "provider"), "tdx_guest\n");
    writeFileSync(join(instance, "outblob"), TDX);
    writeFileSync(join(instance, "generation"), "1\n");
    await assert.rejects(TsmTeeProvider.create({ instance }), AttestationError);
    writeFileSync(join(instance, "provider"), "arm_cca_guest\n");
    await assert.rejects(TsmTeeProvider.create({ instance }), /unsupported configfs-tsm provider/);
    const enxio: ConfigFs = {
      ...nodeConfigFs,
      mkdir: async () => Promise.reject(Object.assign(new Error("ENXIO"), { code: "ENXIO" })),
    };
    await assert.rejects(TsmTeeProvider.create({ root, fs: enxio }), /no provider/);
  });
});
