import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { CloisterConfig, ServiceName } from "@cloister/config";

type Topology = CloisterConfig["topology"];

/** Name of a service's table in enclave_info.toml. */
export const enclaveName = (service: ServiceName): string => `teaclave_${service}_service`;

/** The npm package that holds a service's code. */
export const servicePackage = (service: ServiceName): string =>
  `@cloister/service-${service.replace("_", "-")}`;

/**
 * Which peers may call each internal endpoint. Keys are the server side;
 * the authentication service's API endpoint is public and not listed.
 */
export const INTERNAL_CLIENTS: Readonly<Partial<Record<ServiceName, readonly ServiceName[]>>> = {
  access_control: ["frontend", "management"],
  authentication: ["frontend"],
  storage: ["management", "scheduler"],
  management: ["frontend"],
  scheduler: ["execution"],
};

const require = createRequire(import.meta.url);

/** The folder holding a package's package.json, found from its resolved entry point. */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find package.json of ${name}`);
    dir = up;
  }
  return dir;
}

/**
 * The package directories whose compiled code a service runs: its own package and every
 * @cloister package it depends on, transitively. Their `dist/src` make the service's
 * measurement, so a change to any of them changes what clients must accept.
 */
export function serviceCodeDirs(service: ServiceName): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(join(packageDir(name), "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies ?? {})) if (dep.startsWith("@cloister/")) visit(dep);
  };
  visit(servicePackage(service));
  return [...seen].sort().map(packageDir);
}

/** Services that share one process under the `combined` topology, in start order (dependencies first). */
export const CONTROL_PLANE: readonly ServiceName[] = [
  "storage",
  "access_control",
  "authentication",
  "management",
  "scheduler",
  "frontend",
];

/** One operating-system process of a deployment: its name (log file, `cloister service <name>`) and services. */
export interface ProcessSpec {
  readonly name: string;
  readonly services: readonly ServiceName[];
}

export const CONTROL_PLANE_PROCESS = "control-plane";

/** The processes of a topology, in start order; execution nodes are always their own. */
export function processesOf(topology: Topology): ProcessSpec[] {
  if (topology === "split")
    return [...CONTROL_PLANE, "execution" as const].map((s) => ({ name: s, services: [s] }));
  return [
    { name: CONTROL_PLANE_PROCESS, services: CONTROL_PLANE },
    { name: "execution", services: ["execution"] },
  ];
}

/** The process that runs `service` under `topology`. */
export function processOf(service: ServiceName, topology: Topology): ProcessSpec {
  const spec = processesOf(topology).find((p) => p.services.includes(service));
  if (!spec) throw new Error(`no process runs ${service}`);
  return spec;
}

/** Name of the measured unit of a process: a lone service keeps its Teaclave name. */
export function measuredName(spec: ProcessSpec): string {
  return spec.services.length === 1
    ? enclaveName(spec.services[0]!)
    : `cloister_${spec.name.replace("-", "_")}`;
}

/** Code directories of a process: the union of its services' (sorted, without repeats). */
export function processCodeDirs(spec: ProcessSpec): string[] {
  return [...new Set(spec.services.flatMap(serviceCodeDirs))].sort();
}
