import { configSchema } from "@cloister/config";

/** How `cloister up` lays the services out in processes (config key `topology`). */
export type Topology = "combined" | "split";

/**
 * Whether this build knows the `topology` key. A build without it runs every service in its own
 * process, which is what `split` names; its configuration rejects the key, so it must not be written.
 */
export const topologyKnown = (): boolean => "topology" in configSchema.shape;

/** The topologies this build can run, `split` first. */
export const topologies = (): Topology[] => (topologyKnown() ? ["split", "combined"] : ["split"]);

/** The configuration line that selects `topology` (none where the key is unknown: split is the only shape). */
export const topologyLine = (topology: Topology): string =>
  topologyKnown() ? `topology = "${topology}"\n` : "";

/** The topology `cloister up` runs when the configuration does not say (`CLOISTER_TOPOLOGY` overrides it). */
export const defaultTopology = (): Topology => {
  if (!topologyKnown()) return "split";
  const env = process.env.CLOISTER_TOPOLOGY;
  return env === "split" || env === "combined" ? env : "combined";
};

/**
 * `CLOISTER_TOPOLOGY` overrides the configuration file, so a bench that writes `topology` into
 * each platform's file must not pass it on: unset while `start` runs, restored after.
 */
export async function withoutTopologyEnv<T>(start: () => Promise<T>): Promise<T> {
  const saved = process.env.CLOISTER_TOPOLOGY;
  delete process.env.CLOISTER_TOPOLOGY;
  try {
    return await start();
  } finally {
    if (saved !== undefined) process.env.CLOISTER_TOPOLOGY = saved;
  }
}

/** Services that `cloister service control-plane` runs in one process under `combined`. */
export const CONTROL_PLANE = "control-plane";
