import { type CloisterConfig, SERVICE_NAMES, type ServiceName } from "@cloister/config";
import { ConfigError } from "@cloister/core";
import { createServiceContext } from "@cloister/host";
import { SERVICE_STARTERS } from "../services.js";

/** The line a service prints on stdout once it serves; `cloister up` waits for it. */
export const READY_MARKER = "cloister-service-ready";

/** Run one service in this process until SIGINT/SIGTERM (one per container/pod in production). */
export async function runService(name: string, config: CloisterConfig): Promise<void> {
  if (!SERVICE_NAMES.includes(name as ServiceName)) {
    throw new ConfigError(`unknown service ${name}; one of: ${SERVICE_NAMES.join(", ")}`);
  }
  const service = name as ServiceName;
  const ctx = await createServiceContext(service, config);
  const running = await SERVICE_STARTERS[service](ctx);
  const endpoints = [
    ...running.endpoints,
    ...(ctx.ops
      ? [{ name: `${service.replace("_", "-")} metrics/health`, address: `http://${ctx.ops.address}` }]
      : []),
  ];
  for (const e of endpoints) ctx.log.info({ endpoint: e.name, address: e.address }, "serving");
  process.stdout.write(
    `${JSON.stringify({ [READY_MARKER]: service, endpoints, mrEnclave: ctx.mrEnclave })}\n`,
  );

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
