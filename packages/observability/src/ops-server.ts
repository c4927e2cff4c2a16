// The operations endpoint: plain HTTP on its own port, never on the attested ports, serving
// only what is safe to show anyone who can reach it — metric series, health verdicts and the
// build version. Kubernetes probes it directly (its probes cannot speak attested TLS).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { HealthState } from "./health.js";
import type { ServiceMetrics } from "./metrics.js";

export interface OpsServerOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  service: string;
  version: string;
  /** This service's measurement (hex), shown by /version. */
  mrEnclave?: string;
  metrics: ServiceMetrics;
  health: HealthState;
}

export interface OpsServer {
  readonly address: string;
  close(): Promise<void>;
}

export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const i = o.listen.lastIndexOf(":");
  const host = o.listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(o.listen.slice(i + 1));
  const server: Server = createServer((req, res) => {
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    const path = (req.url ?? "/").split("?")[0];
    switch (path) {
      case "/metrics":
        o.metrics.exposition().then(
          ({ contentType, body }) => send(200, contentType, body),
          () => send(500, "text/plain", "metrics unavailable\n"),
        );
        return;
      case "/livez":
        return send(200, "text/plain", "ok\n");
      case "/readyz":
        o.health.report().then(
          (r) => send(r.ready ? 200 : 503, "application/json", `${JSON.stringify(r)}\n`),
          () => send(503, "application/json", '{"ready":false}\n'),
        );
        return;
      case "/version":
        return send(
          200,
          "application/json",
          `${JSON.stringify({ service: o.service, version: o.version, mrEnclave: o.mrEnclave ?? null })}\n`,
        );
      default:
        return send(404, "text/plain", "not found\n");
    }
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  server.maxConnections = 256;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
