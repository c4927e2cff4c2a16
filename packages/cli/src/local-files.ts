import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { CloisterConfig } from "@cloister/config";
import { userDirName } from "@cloister/file-agent";

/**
 * What `cloister up` opens for work on one machine, made ready and said out loud: the file
 * exchange (with the bootstrap administrator's directory) and what the file agent may reach.
 */
export function prepareLocalFiles(config: CloisterConfig, bootstrapUser = "admin"): string[] {
  const { file_exchange_dir: exchange, egress } = config.execution;
  const lines: string[] = [];
  if (exchange === undefined) {
    lines.push("  file exchange            disabled (file: URLs refused)");
  } else {
    mkdirSync(join(exchange, userDirName(bootstrapUser)), { recursive: true, mode: 0o700 });
    lines.push(
      `  file exchange            ${exchange}/<user id>/  (file: URLs, each user's own; e.g. file://${join(exchange, userDirName(bootstrapUser))}/in.enc)`,
    );
  }
  const allowed = egress.allow_addresses.length > 0 ? ` and ${egress.allow_addresses.join(", ")}` : "";
  lines.push(
    `  file agent may reach     ${egress.schemes.join("/")} to public addresses${allowed}, ports ${egress.ports.join(", ")}`,
  );
  if (egress.allow_addresses.length > 0)
    lines.push(
      "                           (exceptions for work on this machine; `cloister service` reaches public addresses only)",
    );
  return lines;
}
