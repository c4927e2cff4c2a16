import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { BackendKind } from "./backend.js";
import type { RuntimeImage } from "./image.js";

/**
 * The runtime measurement a LibOS instance attests (its MRENCLAVE under simulation): the backend,
 * the image digest (agent and every runtime file), the agent's trust policy and the backend's
 * fixed sandbox configuration. Never the payload: that is bound per task by the commit.
 */
export function runtimeMeasurement(
  backend: BackendKind,
  image: RuntimeImage,
  policyPath: string,
  fixedConfig: unknown,
): string {
  return createHash("sha256")
    .update("cloister/libos/runtime/1\n")
    .update(`${backend}\n${image.runtime}\n${image.digest}\n`)
    .update(createHash("sha256").update(readFileSync(policyPath)).digest("hex"))
    .update("\n")
    .update(JSON.stringify(fixedConfig))
    .digest("hex");
}
