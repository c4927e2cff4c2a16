// Where verification inputs come from: an offline source (files in Intel's collateral shape,
// AMD certificates as PEM/DER), a cache in front of any source, and online fetchers for Intel
// PCS and AMD KDS behind the same interface. Only the offline source and the cache run in
// tests (there is no network here).
import { readdirSync, readFileSync, statSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { hex } from "./bytes.js";
import { EvidenceError } from "./errors.js";
import { type IntelCollateral, parseIntelCollateral, readIntelCollateral } from "./intel/collateral.js";
import { parseTcbInfo } from "./intel/tcb.js";
import type { SnpProduct, SnpTcb } from "./snp/report.js";
import { amdKeyExtensions } from "./snp/verify.js";
import { type Cert, loadCerts, parseCrl } from "./x509.js";

export interface IntelCollateralRequest {
  tee: "sgx" | "tdx";
  /** 12 hex digits. */
  fmspc: string;
  /** Which PCK CA issued the PCK certificate. */
  ca: "processor" | "platform";
}

export interface AmdCertRequest {
  product: SnpProduct;
  kind: "vcek" | "vlek";
  chipId: Buffer;
  reportedTcb: SnpTcb;
}

export interface CollateralSource {
  intel(req: IntelCollateralRequest): Promise<IntelCollateral | undefined>;
  /** VCEK/VLEK certificate (DER) for a report. */
  amdSigningCert(req: AmdCertRequest): Promise<Buffer | undefined>;
}

const FMSPC = /^[0-9a-f]{12}$/;

function checkRequest(req: IntelCollateralRequest): void {
  if (!FMSPC.test(req.fmspc)) throw new EvidenceError("collateral.request", "FMSPC must be 12 hex digits");
  if (req.tee !== "sgx" && req.tee !== "tdx") throw new EvidenceError("collateral.request", "unknown TEE");
  if (req.ca !== "processor" && req.ca !== "platform")
    throw new EvidenceError("collateral.request", "unknown PCK CA");
}

/** The PCK CA named in a collateral set's CRL issuer chain. */
const caOf = (c: IntelCollateral): "processor" | "platform" | undefined =>
  /Processor/.test(c.pckCrl.issuerCn)
    ? "processor"
    : /Platform/.test(c.pckCrl.issuerCn)
      ? "platform"
      : undefined;

const matchesTcb = (ext: ReturnType<typeof amdKeyExtensions>, t: SnpTcb, product: SnpProduct) =>
  ext.bootloader === t.bootloader &&
  ext.tee === t.tee &&
  ext.snp === t.snp &&
  ext.microcode === t.microcode &&
  (product !== "Turin" || ext.fmc === t.fmc);

const MAX_FILE = 4 * 1024 * 1024;

/**
 * Collateral and AMD certificates from local files. Each path is a collateral JSON file, a
 * directory of PCS files, a certificate file, or a directory holding any of these (three levels).
 */
export class OfflineCollateralSource implements CollateralSource {
  private constructor(
    private readonly sets: IntelCollateral[],
    private readonly amd: Cert[],
  ) {}

  static fromCollateral(sets: IntelCollateral[], amdCerts: Cert[] = []): OfflineCollateralSource {
    return new OfflineCollateralSource(sets, amdCerts);
  }

  static fromPaths(paths: string[]): OfflineCollateralSource {
    const sets: IntelCollateral[] = [];
    const amd: Cert[] = [];
    const visit = (p: string, depth: number) => {
      const st = statSync(p);
      if (st.isDirectory()) {
        try {
          sets.push(readIntelCollateral(p));
          return;
        } catch {
          // not a PCS directory itself: look one level down
        }
        if (depth > 0) for (const n of readdirSync(p).sort()) visit(join(p, n), depth - 1);
        return;
      }
      if (!st.isFile() || st.size > MAX_FILE) return;
      const bytes = readFileSync(p);
      const text = bytes.toString("latin1");
      if (text.trimStart().startsWith("{")) {
        try {
          sets.push(parseIntelCollateral(JSON.parse(bytes.toString("utf8")) as Record<string, unknown>));
        } catch {
          // not a collateral file
        }
        return;
      }
      try {
        for (const c of loadCerts(bytes, p))
          if (c.subjectCn === "SEV-VCEK" || c.subjectCn === "SEV-VLEK") amd.push(c);
      } catch {
        // not a certificate
      }
    };
    for (const p of paths) visit(p, 3);
    return new OfflineCollateralSource(sets, amd);
  }

  async intel(req: IntelCollateralRequest): Promise<IntelCollateral | undefined> {
    checkRequest(req);
    return this.sets.find((c) => {
      const info = parseTcbInfo(c.tcbInfoText);
      return info.fmspc === req.fmspc && info.id === req.tee.toUpperCase() && caOf(c) === req.ca;
    });
  }

  async amdSigningCert(req: AmdCertRequest): Promise<Buffer | undefined> {
    const want = req.kind === "vcek" ? "SEV-VCEK" : "SEV-VLEK";
    const id = req.product === "Turin" ? req.chipId.subarray(0, 8) : req.chipId;
    return this.amd.find((c) => {
      if (c.subjectCn !== want) return false;
      const ext = amdKeyExtensions(c);
      return matchesTcb(ext, req.reportedTcb, req.product) && (req.kind === "vlek" || !!ext.hwId?.equals(id));
    })?.der;
  }
}

/**
 * Caches another source's answers: Intel collateral until the earliest `nextUpdate` among its
 * TCB Info, QE Identity and CRLs (then it is fetched again), AMD certificates until `notAfter`.
 */
export class CachedCollateralSource implements CollateralSource {
  private readonly intelCache = new Map<string, { value: IntelCollateral; until: number }>();
  private readonly amdCache = new Map<string, { value: Buffer; until: number }>();

  constructor(
    private readonly inner: CollateralSource,
    private readonly o: { now: () => Date; maxEntries?: number },
  ) {}

  private put<T>(m: Map<string, T>, k: string, v: T) {
    m.set(k, v);
    if (m.size > (this.o.maxEntries ?? 256)) m.delete(m.keys().next().value!);
  }

  async intel(req: IntelCollateralRequest): Promise<IntelCollateral | undefined> {
    checkRequest(req);
    const key = `${req.tee}:${req.fmspc}:${req.ca}`;
    const now = this.o.now().getTime();
    const hit = this.intelCache.get(key);
    if (hit && now <= hit.until) return hit.value;
    const value = await this.inner.intel(req);
    if (value) {
      const info = parseTcbInfo(value.tcbInfoText);
      const qe = JSON.parse(value.qeIdentityText) as { nextUpdate?: string };
      const times = [
        info.nextUpdate.getTime(),
        Date.parse(qe.nextUpdate ?? ""),
        value.pckCrl.nextUpdate?.getTime(),
        value.rootCaCrl.nextUpdate?.getTime(),
      ];
      const until = Math.min(...times.filter((t): t is number => typeof t === "number" && !Number.isNaN(t)));
      this.put(this.intelCache, key, { value, until });
    }
    return value;
  }

  async amdSigningCert(req: AmdCertRequest): Promise<Buffer | undefined> {
    const key = `${req.product}:${req.kind}:${hex(req.chipId)}:${hex(req.reportedTcb.raw)}`;
    const now = this.o.now().getTime();
    const hit = this.amdCache.get(key);
    if (hit && now <= hit.until) return hit.value;
    const value = await this.inner.amdSigningCert(req);
    if (value)
      this.put(this.amdCache, key, { value, until: loadCerts(value, "VCEK")[0]!.notAfter.getTime() });
    return value;
  }
}

// ---------------------------------------------------------------------------------------------
// Online fetchers

export interface HttpResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}
/** One HTTPS GET; injectable so nothing here depends on a particular client. */
export type HttpGet = (url: string) => Promise<HttpResponse>;

const MAX_RESPONSE = 2 * 1024 * 1024;

/** HTTPS GET with Node's client: 30 s timeout, 2 MiB limit, no redirects. */
export const nodeHttpsGet: HttpGet = (url) =>
  new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== "https:")
      return reject(new EvidenceError("collateral.fetch", "only https URLs are fetched"));
    const req = https.get(u, { timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE) req.destroy(new Error("response too large"));
        else chunks.push(c);
      });
      res.on("end", () => {
        const headers: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(res.headers))
          headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : v;
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => reject(new EvidenceError("collateral.fetch", `${u.host}: ${e.message}`)));
  });

const ok = (r: HttpResponse, what: string): HttpResponse => {
  if (r.status !== 200) throw new EvidenceError("collateral.fetch", `${what}: HTTP ${r.status}`);
  return r;
};
const header = (r: HttpResponse, name: string, what: string): string => {
  const v = r.headers[name.toLowerCase()];
  if (!v) throw new EvidenceError("collateral.fetch", `${what}: no ${name} header`);
  return decodeURIComponent(v);
};

export interface IntelPcsOptions {
  get?: HttpGet;
  /** Intel PCS or a PCCS; default Intel's public service. */
  baseUrl?: string;
  rootCaCrlUrl?: string;
}

/** Intel PCS (v4 API): TCB Info, QE Identity, PCK CA CRL with their issuer chains, and the Root CA CRL. */
export class IntelPcsFetcher implements CollateralSource {
  private readonly get: HttpGet;
  private readonly base: string;
  private readonly rootCrlUrl: string;
  constructor(o: IntelPcsOptions = {}) {
    this.get = o.get ?? nodeHttpsGet;
    this.base = (o.baseUrl ?? "https://api.trustedservices.intel.com").replace(/\/+$/, "");
    this.rootCrlUrl = o.rootCaCrlUrl ?? "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";
  }

  /** The URLs fetched for a request, in order (TCB Info, QE Identity, PCK CRL, Root CA CRL). */
  urls(req: IntelCollateralRequest): string[] {
    checkRequest(req);
    return [
      `${this.base}/${req.tee}/certification/v4/tcb?fmspc=${req.fmspc}`,
      `${this.base}/${req.tee}/certification/v4/qe/identity`,
      `${this.base}/sgx/certification/v4/pckcrl?ca=${req.ca}&encoding=der`,
      this.rootCrlUrl,
    ];
  }

  async intel(req: IntelCollateralRequest): Promise<IntelCollateral> {
    const [tcbUrl, qeUrl, crlUrl, rootUrl] = this.urls(req) as [string, string, string, string];
    const [tcb, qe, crl, root] = await Promise.all([tcbUrl, qeUrl, crlUrl, rootUrl].map((u) => this.get(u)));
    ok(tcb!, "TCB Info");
    ok(qe!, "QE Identity");
    ok(crl!, "PCK CRL");
    ok(root!, "Root CA CRL");
    parseCrl(root!.body, "Root CA CRL");
    return parseIntelCollateral({
      tcb_info: tcb!.body.toString("utf8"),
      tcb_info_signature: "",
      tcb_info_issuer_chain: header(tcb!, "TCB-Info-Issuer-Chain", "TCB Info"),
      qe_identity: qe!.body.toString("utf8"),
      qe_identity_signature: "",
      qe_identity_issuer_chain: header(qe!, "SGX-Enclave-Identity-Issuer-Chain", "QE Identity"),
      pck_crl: crl!.body.toString("hex"),
      pck_crl_issuer_chain: header(crl!, "SGX-PCK-CRL-Issuer-Chain", "PCK CRL"),
      root_ca_crl: root!.body.toString("hex"),
    });
  }

  async amdSigningCert(): Promise<undefined> {
    return undefined;
  }
}

/** AMD KDS: the VCEK for a chip id and reported TCB (VLEKs are not served by KDS). */
export class AmdKdsFetcher implements CollateralSource {
  private readonly get: HttpGet;
  private readonly base: string;
  constructor(o: { get?: HttpGet; baseUrl?: string } = {}) {
    this.get = o.get ?? nodeHttpsGet;
    this.base = (o.baseUrl ?? "https://kdsintf.amd.com").replace(/\/+$/, "");
  }

  vcekUrl(req: AmdCertRequest): string {
    const t = req.reportedTcb;
    const id = req.product === "Turin" ? req.chipId.subarray(0, 8) : req.chipId;
    const q = new URLSearchParams();
    if (req.product === "Turin") q.set("fmcSPL", String(t.fmc ?? 0));
    q.set("blSPL", String(t.bootloader));
    q.set("teeSPL", String(t.tee));
    q.set("snpSPL", String(t.snp));
    q.set("ucodeSPL", String(t.microcode));
    return `${this.base}/vcek/v1/${req.product}/${hex(id)}?${q}`;
  }

  async intel(): Promise<undefined> {
    return undefined;
  }

  async amdSigningCert(req: AmdCertRequest): Promise<Buffer | undefined> {
    if (req.kind !== "vcek") return undefined;
    return ok(await this.get(this.vcekUrl(req)), "VCEK").body;
  }
}

/** Asks each source in turn (e.g. offline files first, then a cached online fetcher). */
export class ChainedCollateralSource implements CollateralSource {
  constructor(private readonly sources: CollateralSource[]) {}
  async intel(req: IntelCollateralRequest) {
    for (const s of this.sources) {
      const c = await s.intel(req);
      if (c) return c;
    }
    return undefined;
  }
  async amdSigningCert(req: AmdCertRequest) {
    for (const s of this.sources) {
      const c = await s.amdSigningCert(req);
      if (c) return c;
    }
    return undefined;
  }
}
