import { type CloisterConfig, SERVICE_NAMES, type ServiceName } from "@cloister/config";
import { ConfigError } from "@cloister/core";
import {
  CONTROL_PLANE_PROCESS,
  ColocatedServices,
  createServiceContext,
  type ProcessSpec,
  processesOf,
  processOf,
  type RunningService,
  type ServiceContext,
} from "@cloister/host";
import { SERVICE_STARTERS } from "../services.js";

/** The line a service prints on stdout once it serves; `cloister up` waits for it. */
export const READY_MARKER = "cloister-service-ready";

/**
 * Run one process of the deployment until SIGINT/SIGTERM: one service (one per container/pod in
 * production, `topology = "split"`), or `control-plane`, the services the `combined` topology runs
 * together (started in dependency order, each with its own endpoints, in one measurement).
 */
export async function runService(name: string, config: CloisterConfig): Promise<void> {
  const spec = processNamed(name, config);
  const colocated = new ColocatedServices(spec);
  const started: Array<{ ctx: ServiceContext; running: RunningService }> = [];
  for (const service of spec.services) {
    const ctx = await createServiceContext(service, config, colocated);
    started.push({ ctx, running: await SERVICE_STARTERS[service](ctx) });
  }
  const endpoints = started.flatMap(({ ctx, running }) => [
    ...running.endpoints,
    ...(ctx.ops
      ? [{ name: `${ctx.name.replace("_", "-")} metrics/health`, address: `http://${ctx.ops.address}` }]
      : []),
  ]);
  const first = started[0]!.ctx;
  for (const e of endpoints) first.log.info({ endpoint: e.name, address: e.address }, "serving");
  process.stdout.write(
    `${JSON.stringify({ [READY_MARKER]: spec.name, endpoints, mrEnclave: first.mrEnclave })}\n`,
  );
  const ctx = first;
  const running: RunningService = {
    endpoints,
    // Dependents first (the frontend … storage), as `cloister up` stops separate processes.
    async close() {
      for (const s of [...started].reverse()) {
        await s.running.close();
        if (s.ctx !== first) await s.ctx.close();
      }
    },
  };

  let stopping = false;
  /**
   * `orphaned`: the supervisor that reads our stdout/stderr is gone. A normal exit flushes the log
   * synchronously, which can block for ever on a pipe nobody drains (seen: an execution node stuck
   * in that flush after `up` was killed), so an orphan ends with SIGKILL once it has closed.
   */
  const stop = async (signal: string, orphaned = false) => {
    if (stopping) return;
    stopping = true;
    if (!orphaned) ctx.log.info({ signal }, "stopping");
    const end = (code: number) => (orphaned ? process.kill(process.pid, "SIGKILL") : process.exit(code));
    const force = setTimeout(() => end(1), orphaned ? 5_000 : 15_000);
    force.unref();
    try {
      await running.close();
      await ctx.close();
    } finally {
      if (!orphaned) ctx.log.flush?.();
      end(0);
    }
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // Under `cloister up`: a supervisor that is gone (killed) leaves no service behind holding ports.
  const supervisor = Number(process.env.CLOISTER_SUPERVISOR_PID);
  if (Number.isSafeInteger(supervisor) && supervisor > 1) {
    setInterval(() => {
      if (process.ppid !== supervisor) void stop("supervisor gone", true);
    }, 1000).unref();
  }
}

/** The process `name` names under the configured topology; a service of a combined process is refused alone. */
export function processNamed(name: string, config: CloisterConfig): ProcessSpec {
  const wanted = name === "control_plane" ? CONTROL_PLANE_PROCESS : name;
  const spec = processesOf(config.topology).find((p) => p.name === wanted);
  if (spec) return spec;
  if (SERVICE_NAMES.includes(wanted as ServiceName)) {
    const home = processOf(wanted as ServiceName, config.topology);
    throw new ConfigError(
      `under topology "${config.topology}" the ${wanted} service runs in the ${home.name} process: run \`cloister service ${home.name}\`, or set topology = "split" to run it alone`,
    );
  }
  const names = processesOf(config.topology).map((p) => p.name);
  throw new ConfigError(
    `unknown service ${name}; under topology "${config.topology}" one of: ${names.join(", ")}`,
  );
}
