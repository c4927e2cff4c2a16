import { CloisterClient, trustFromDataDir } from "@cloister/sdk";
import type { Platform } from "./platform.js";

/** An unauthenticated client of `platform` (attested connections, no session yet). */
export function client(platform: Pick<Platform, "authentication" | "frontend" | "dataDir">): CloisterClient {
  return new CloisterClient({
    authentication: platform.authentication,
    frontend: platform.frontend,
    trust: trustFromDataDir(platform.dataDir),
  });
}

/** The builtin-echo registration the Teaclave examples use. */
export const ECHO_FUNCTION = {
  name: "builtin-echo",
  description: "Native Echo Function",
  arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
};

/** Registers builtin-echo (or reuses `functionId`), runs it with `message`, returns the result. */
export async function echo(c: CloisterClient, message: string, functionId?: string): Promise<string> {
  const fn = functionId ?? (await c.registerFunction(ECHO_FUNCTION));
  const taskId = await c.createTask({ functionId: fn, arguments: { message }, executor: "builtin" });
  await c.invokeTask(taskId);
  return (await c.taskResult(taskId, { timeoutMs: 30_000 })).toString("utf8");
}
