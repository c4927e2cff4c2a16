// `cloister console`: a loopback-only web server that does what the browser cannot — verify the
// platform's attested TLS — and then serves the bundled UI and a JSON API. Each browser session
// holds its own attested SDK client; keys of outputs registered here stay in this process.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Logger, silentLogger } from "@cloister/core";
import { attestEndpoint, CloisterClient, type PlatformTrust, policyFor } from "@cloister/sdk";
import { type VerifiedPeer, verifyEnclaveInfoSignatures } from "@cloister/tee";
import { type ApiContext, route } from "./api.js";
import { ConsoleAttestationError, ConsoleError } from "./errors.js";
import { checkHost, checkSameOrigin, parseCookies, securityHeaders, sendJson } from "./http.js";
import type { ConsoleSession } from "./session.js";

export interface ConsoleOptions {
  authentication: string;
  frontend: string;
  trust: PlatformTrust;
  /** Where the trust files came from, shown on the platform page. */
  trustFiles?: { asRootCa: string; enclaveInfo: string; auditorsDir?: string };
  /** The platform's exchange directory (`file:` URLs); needed to upload data from the browser. */
  exchangeDir?: string;
  /** Loopback port; 0 picks a free one. */
  port?: number;
  host?: "127.0.0.1" | "::1" | "localhost";
  log?: Logger;
  /** Idle sessions end after this long (default 30 minutes). */
  sessionIdleMs?: number;
}

export interface RunningConsole {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface EndpointAttestation {
  name: "authentication" | "frontend";
  address: string;
  peer: VerifiedPeer;
  verifiedAt: Date;
}

const COOKIE = "cloister_console";
const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "ui");
const ASSETS: Record<string, string> = {
  "/": "index.html",
  "/index.html": "index.html",
  "/app.js": "app.js",
  "/app.css": "app.css",
};
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/** Verifies both endpoints exactly as the CLI and SDK do; throws ConsoleAttestationError otherwise. */
export async function attestPlatform(
  o: Pick<ConsoleOptions, "authentication" | "frontend" | "trust">,
): Promise<EndpointAttestation[]> {
  const out: EndpointAttestation[] = [];
  for (const [name, address, enclave] of [
    ["authentication", o.authentication, "teaclave_authentication_service"],
    ["frontend", o.frontend, "teaclave_frontend_service"],
  ] as const) {
    try {
      out.push({
        name,
        address,
        peer: await attestEndpoint(address, policyFor(o.trust, enclave)),
        verifiedAt: new Date(),
      });
    } catch (e) {
      throw new ConsoleAttestationError(
        `the ${name} endpoint ${address} did not verify: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  return out;
}

function auditorStatus(files: ConsoleOptions["trustFiles"]): {
  verified: boolean;
  signatures: number;
  detail: string;
} {
  if (!files?.auditorsDir || !existsSync(files.auditorsDir))
    return { verified: false, signatures: 0, detail: "no auditors directory given" };
  const names = readdirSync(files.auditorsDir);
  const sigs = names
    .filter((n) => n.endsWith(".sign.sha256"))
    .map((n) => readFileSync(join(files.auditorsDir!, n)));
  const keys = names
    .filter((n) => n.endsWith(".public.pem"))
    .map((n) => readFileSync(join(files.auditorsDir!, n), "utf8"));
  try {
    verifyEnclaveInfoSignatures(readFileSync(files.enclaveInfo), sigs, keys, { minSignatures: 1 });
    return { verified: true, signatures: sigs.length, detail: `${sigs.length} auditor signature(s) verify` };
  } catch (e) {
    return { verified: false, signatures: sigs.length, detail: (e as Error).message };
  }
}

export async function startConsole(o: ConsoleOptions): Promise<RunningConsole> {
  const log = o.log ?? silentLogger;
  const host = o.host ?? "127.0.0.1";
  let attestations = await attestPlatform(o);
  const sessions = new Map<string, ConsoleSession>();
  const idleMs = o.sessionIdleMs ?? 30 * 60_000;

  let port = 0;
  let allowedHosts = new Set<string>();
  let origins = new Set<string>();

  const newSession = (): ConsoleSession => {
    const s: ConsoleSession = {
      id: randomBytes(32).toString("base64url"),
      csrf: randomBytes(32).toString("base64url"),
      client: undefined,
      user: undefined,
      tasks: new Set(),
      outputs: new Map(),
      lastSeen: Date.now(),
    };
    sessions.set(s.id, s);
    return s;
  };
  const sessionOf = (req: IncomingMessage): ConsoleSession | undefined => {
    const id = parseCookies(req.headers.cookie).get(COOKIE);
    const s = id ? sessions.get(id) : undefined;
    if (!s) return undefined;
    if (Date.now() - s.lastSeen > idleMs) {
      s.client?.close();
      sessions.delete(s.id);
      return undefined;
    }
    s.lastSeen = Date.now();
    return s;
  };
  const ctx: ApiContext = {
    options: o,
    log,
    attestations: () => attestations,
    reattest: async () => {
      attestations = await attestPlatform(o);
      return attestations;
    },
    auditors: () => auditorStatus(o.trustFiles),
    newClient: () =>
      new CloisterClient({ authentication: o.authentication, frontend: o.frontend, trust: o.trust }),
    endSession: (s) => {
      s.client?.close();
      sessions.delete(s.id);
    },
  };

  const serveAsset = (path: string, res: ServerResponse, s: ConsoleSession) => {
    const file = ASSETS[path];
    if (!file) throw new ConsoleError("not_found", "no such page");
    const full = join(UI_DIR, file);
    if (!existsSync(full))
      throw new ConsoleError("not_found", "the console UI is not built (run npm run build)");
    let body = readFileSync(full);
    if (file === "index.html") body = Buffer.from(body.toString("utf8").replace("__CSRF__", s.csrf));
    res.writeHead(200, { "content-type": TYPES[file.split(".").pop()!]!, "content-length": body.length });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    securityHeaders(res);
    checkHost(req, allowedHosts);
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    let s = sessionOf(req);
    if (req.method === "GET" && !url.pathname.startsWith("/api/")) {
      if (!s) {
        s = newSession();
        res.setHeader("set-cookie", `${COOKIE}=${s.id}; HttpOnly; SameSite=Strict; Path=/`);
      }
      return serveAsset(url.pathname, res, s);
    }
    if (req.method !== "GET") {
      checkSameOrigin(req, origins);
      const token = req.headers["x-csrf-token"];
      if (!s || typeof token !== "string" || !safeEqual(token, s.csrf))
        throw new ConsoleError("csrf", "missing or wrong CSRF token (reload the page)");
    }
    if (!s) throw new ConsoleError("not_signed_in", "no console session (reload the page)");
    await route(ctx, s, req, res, url);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof ConsoleError)
        return sendJson(res, e.status, { error: { code: e.code, message: e.message } });
      log.warn({ err: (e as Error).message }, "console request failed");
      sendJson(res, 500, { error: { code: "internal", message: "internal error in the console" } });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 8080, host === "localhost" ? "127.0.0.1" : host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const hostForUrl = host === "::1" ? "[::1]" : host;
  allowedHosts = new Set([`${hostForUrl}:${port}`, `localhost:${port}`]);
  origins = new Set([...allowedHosts].map((h) => `http://${h}`));
  const sweep = setInterval(() => {
    for (const s of sessions.values()) if (Date.now() - s.lastSeen > idleMs) ctx.endSession(s);
  }, 60_000);
  sweep.unref();
  return {
    url: `http://${hostForUrl}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweep);
        for (const s of sessions.values()) ctx.endSession(s);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
