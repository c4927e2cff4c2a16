// The HTTP hygiene of every console response, and the checks every request passes before it is
// routed: the Host header names this loopback listener (DNS rebinding), state-changing requests
// come from this origin (Origin / Sec-Fetch-Site) and carry the session's CSRF token.
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConsoleError } from "./errors.js";

/** Everything the UI needs is bundled and served from here; nothing else may load. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

export function securityHeaders(res: ServerResponse): void {
  res.setHeader("content-security-policy", CONTENT_SECURITY_POLICY);
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("referrer-policy", "no-referrer");
  res.setHeader("x-frame-options", "DENY");
  res.setHeader("cross-origin-opener-policy", "same-origin");
  res.setHeader("cross-origin-resource-policy", "same-origin");
  res.setHeader("cache-control", "no-store");
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

/** Refuses requests for another host name (a rebinding attacker's domain resolving to 127.0.0.1). */
export function checkHost(req: IncomingMessage, allowedHosts: ReadonlySet<string>): void {
  if (!allowedHosts.has((req.headers.host ?? "").toLowerCase()))
    throw new ConsoleError("forbidden", "unexpected Host header");
}

/** State-changing requests must come from the console's own pages. */
export function checkSameOrigin(req: IncomingMessage, origins: ReadonlySet<string>): void {
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string" && site !== "same-origin" && site !== "none")
    throw new ConsoleError("csrf", "cross-site request refused");
  const origin = req.headers.origin;
  if (origin !== undefined && !origins.has(origin))
    throw new ConsoleError("csrf", "cross-origin request refused");
}

export async function readJson(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const type = req.headers["content-type"] ?? "";
  // A JSON content type cannot be sent cross-site without a CORS preflight, which we never grant.
  if (!type.startsWith("application/json"))
    throw new ConsoleError("bad_request", "expected application/json");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ConsoleError("too_large", `request larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as unknown;
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch {
    throw new ConsoleError("bad_request", "the request body is not a JSON object");
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}
