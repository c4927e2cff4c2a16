// Intel's resource model publishes EPC as a node-level extended resource (bytes) rather than as
// devices: the scheduler then subtracts each pod's request without any Allocate call. Extended
// resources of a node are set by patching its status capacity through the Kubernetes API, so
// this is the one place the plugin talks to the API server, with the pod's service-account token.
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { ConfigError } from "@cloister/core";

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface ApiServer {
  /** Base URL, e.g. https://10.0.0.1:443. */
  url: string;
  token: string;
  /** PEM of the cluster CA; undefined only for plain-HTTP test servers. */
  ca?: string | undefined;
}

/** The in-cluster API server, from the environment and the mounted service-account files. */
export function inClusterApiServer(saDir = SA_DIR, env = process.env): ApiServer {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host)
    throw new ConfigError("KUBERNETES_SERVICE_HOST is not set: not running in a cluster (pass --api-server)");
  const h = host.includes(":") ? `[${host}]` : host;
  try {
    return {
      url: `https://${h}:${port}`,
      token: readFileSync(`${saDir}/token`, "utf8").trim(),
      ca: readFileSync(`${saDir}/ca.crt`, "utf8"),
    };
  } catch (e) {
    throw new ConfigError(`cannot read the service-account token and CA in ${saDir}`, { cause: e });
  }
}

/** JSON-pointer escaping of a resource name inside /status/capacity. */
const pointerKey = (name: string) => name.replace(/~/g, "~0").replace(/\//g, "~1");

/** Sets `capacity[resource] = value` on the node's status (a JSON patch, as the API documents). */
export function publishNodeCapacity(
  api: ApiServer,
  node: string,
  resource: string,
  value: string,
  timeoutMs = 10_000,
): Promise<void> {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(node) || node.length > 253)
    throw new ConfigError(`invalid node name ${JSON.stringify(node.slice(0, 64))}`);
  const body = JSON.stringify([{ op: "add", path: `/status/capacity/${pointerKey(resource)}`, value }]);
  const url = new URL(`/api/v1/nodes/${node}/status`, api.url);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: "PATCH",
        headers: {
          authorization: `Bearer ${api.token}`,
          "content-type": "application/json-patch+json",
          "content-length": Buffer.byteLength(body),
          accept: "application/json",
        },
        ...(api.ca ? { ca: api.ca } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          if (text.length < 2000) text += c;
        });
        res.on("end", () => {
          if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300) resolve();
          else
            reject(
              new Error(
                `the API server refused the capacity patch (HTTP ${res.statusCode}): ${text.slice(0, 300)}`,
              ),
            );
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error("the API server did not answer the capacity patch in time")),
    );
    req.on("error", reject);
    req.end(body);
  });
}
