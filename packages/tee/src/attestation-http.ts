// The attestation service over HTTP(S), as legacy services talk to IAS / the DCAP reference
// service: a server exposing an AttestationService, and a client that is one.
import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { AttestationError } from "@cloister/core";
import type { AttestationService } from "./attestation-service.js";
import type { Endorsement } from "./report.js";
import { pemDecodeAll, pemEncode } from "./x509.js";

export const REPORT_PATH = "/sgx/dev/attestation/v4/report";
const MAX_BODY = 1024 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface AttestationHttpServerOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** PEM key and certificate: serve HTTPS (what legacy services expect) instead of HTTP. */
  tls?: { key: string; cert: string };
  /** When set, requests must carry it in `Ocp-Apim-Subscription-Key`. */
  apiKey?: string;
}

export interface AttestationHttpServer {
  /** Base URL, e.g. `https://127.0.0.1:43211`. */
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Request handler implementing `POST /sgx/dev/attestation/v4/report`. */
export function attestationRequestHandler(
  service: AttestationService,
  apiKey?: string,
): http.RequestListener {
  return (req, res) => {
    const reply = (status: number, body = "") => {
      res.writeHead(status, { "Content-Type": "text/plain", Connection: "close" });
      res.end(body);
    };
    if ((req.url ?? "").split("?")[0] !== REPORT_PATH) return reply(404, "not found");
    if (req.method !== "POST") return reply(405, "method not allowed");
    if (apiKey !== undefined) {
      const given = req.headers["ocp-apim-subscription-key"];
      if (typeof given !== "string" || !sameSecret(given, apiKey)) return reply(401, "unauthorized");
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(c);
    });
    req.on("end", async () => {
      if (tooLarge) return reply(400, "evidence payload too large");
      let quote: Buffer;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { isvEnclaveQuote?: unknown };
        if (typeof body.isvEnclaveQuote !== "string" || !BASE64.test(body.isvEnclaveQuote)) throw new Error();
        quote = Buffer.from(body.isvEnclaveQuote, "base64");
      } catch {
        return reply(400, "invalid evidence payload");
      }
      let e: Endorsement;
      try {
        e = await service.endorse(quote);
      } catch (err) {
        return err instanceof AttestationError
          ? reply(400, "invalid evidence payload")
          : reply(500, "internal error");
      }
      res.writeHead(200, {
        "Content-Type": "application/json",
        "Content-Length": e.report.length,
        Connection: "close",
        "X-DCAPReport-Signing-Certificate": encodeURIComponent(
          e.certs.map((c) => pemEncode("CERTIFICATE", c)).join(""),
        ),
        "X-DCAPReport-Signature": e.signature.toString("base64"),
      });
      res.end(e.report);
    });
    req.on("error", () => reply(400, "invalid evidence payload"));
  };
}

/** Serves an attestation service over HTTP(S). */
export async function startAttestationHttpServer(
  service: AttestationService,
  o: AttestationHttpServerOptions = {},
): Promise<AttestationHttpServer> {
  const handler = attestationRequestHandler(service, o.apiKey);
  const server = o.tls
    ? https.createServer({ key: o.tls.key, cert: o.tls.cert }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `${o.tls ? "https" : "http"}://${host}:${addr.port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface HttpAttestationServiceOptions {
  /** Base URL of the service, e.g. `https://api.trustedservices.intel.com:443`. */
  url: string;
  /** Subscription key sent as `Ocp-Apim-Subscription-Key`. Secret: never logged. */
  apiKey?: string;
  /** Extra trusted CA certificates (PEM) for the HTTPS connection. */
  ca?: string | string[];
  /** Request timeout; default 30 s. */
  timeoutMs?: number;
}

/** An AttestationService reached over HTTP(S) with the IAS v4 / DCAP reference protocol. */
export class HttpAttestationService implements AttestationService {
  constructor(private readonly o: HttpAttestationServiceOptions) {
    const u = new URL(o.url);
    if (u.protocol !== "https:" && u.protocol !== "http:")
      throw new AttestationError("attestation service URL must be http(s)");
  }

  endorse(quote: Buffer): Promise<Endorsement> {
    const url = new URL(REPORT_PATH, this.o.url);
    const body = Buffer.from(JSON.stringify({ isvEnclaveQuote: quote.toString("base64") }));
    const headers: Record<string, string | number> = {
      "Content-Type": "application/json",
      "Content-Length": body.length,
      Connection: "close",
    };
    if (this.o.apiKey !== undefined) headers["Ocp-Apim-Subscription-Key"] = this.o.apiKey;
    const mod = url.protocol === "https:" ? https : http;
    return new Promise<Endorsement>((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method: "POST",
          headers,
          timeout: this.o.timeoutMs ?? 30_000,
          ...(this.o.ca ? { ca: this.o.ca } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (e) =>
            reject(new AttestationError(`attestation service response failed: ${e.message}`)),
          );
          res.on("end", () => {
            try {
              resolve(parseResponse(res, Buffer.concat(chunks)));
            } catch (e) {
              reject(e);
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) =>
        reject(new AttestationError(`cannot reach the attestation service: ${e.message}`)),
      );
      req.end(body);
    });
  }
}

const STATUS_ERRORS: Record<number, string> = {
  400: "attestation service rejected the evidence (invalid evidence payload)",
  401: "attestation service refused the subscription key",
  500: "attestation service internal error",
  503: "attestation service unavailable",
};

function header(res: http.IncomingMessage, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = res.headers[n.toLowerCase()];
    if (typeof v === "string") return v;
  }
  return undefined;
}

function parseResponse(res: http.IncomingMessage, body: Buffer): Endorsement {
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    throw new AttestationError(STATUS_ERRORS[status] ?? `attestation service answered HTTP ${status}`);
  }
  const len = res.headers["content-length"];
  if (len === undefined || Number(len) === 0)
    throw new AttestationError("attestation service response has no content");
  const sig = header(res, "X-DCAPReport-Signature", "X-IASReport-Signature");
  const chain = header(res, "X-DCAPReport-Signing-Certificate", "X-IASReport-Signing-Certificate");
  if (!sig || !chain) throw new AttestationError("attestation service response lacks the signature headers");
  let certs: Buffer[];
  try {
    certs = pemDecodeAll(decodeURIComponent(chain), "CERTIFICATE");
  } catch {
    throw new AttestationError("attestation service signing certificate header is malformed");
  }
  if (certs.length === 0) throw new AttestationError("attestation service sent no signing certificate");
  return { report: body, signature: Buffer.from(sig, "base64"), certs };
}
