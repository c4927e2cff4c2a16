import { join } from "node:path";
import type { Command } from "commander";
import { integer } from "../args.js";
import { type Cli, clientFlags, clientOptions, loadTrust } from "./client.js";

/** `cloister console`: the web console, after verifying the platform's attestation as every command does. */
export function consoleCommand(program: Command, cli: Cli): void {
  clientOptions(program.command("console"))
    .description(
      "serve the web console on loopback: it verifies the platform's attestation first (and refuses to start otherwise), then holds your session",
    )
    .option("--port <n>", "loopback port (0 picks a free one)", "8080")
    .option(
      "--exchange-dir <dir>",
      "the platform's exchange directory for file: URLs (default <data-dir>/exchange)",
    )
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const flags = clientFlags(cli, o, cmd);
      const trust = loadTrust(flags);
      const { startConsole } = await import("@cloister/console");
      const running = await startConsole({
        authentication: flags.authentication,
        frontend: flags.frontend,
        trust,
        trustFiles: {
          asRootCa: flags.asRootCa ?? join(flags.dataDir, "as_root_ca.pem"),
          enclaveInfo: flags.enclaveInfo ?? join(flags.dataDir, "enclave_info.toml"),
          auditorsDir: join(flags.dataDir, "auditors"),
        },
        exchangeDir: (o.exchangeDir as string | undefined) ?? join(flags.dataDir, "exchange"),
        port: integer(o.port as string, "--port", 0, 65_535),
      });
      process.stderr.write("The platform's attestation verified (both endpoints).\n");
      process.stdout.write(`${running.url}\n`);
      const stop = () => void running.close().then(() => process.exit(0));
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
