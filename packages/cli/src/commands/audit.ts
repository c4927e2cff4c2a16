import type { Command } from "commander";
import { integer } from "../args.js";
import { auditView, formatAudit } from "../format.js";
import { type Cli, clientOptions, withClient } from "./client.js";

export function auditCommands(program: Command, cli: Cli): void {
  const audit = program.command("audit").description("the frontend's audit log (PlatformAdmin only)");
  clientOptions(audit.command("query <query>"))
    .description(
      "entries matching a query, newest first: e.g. 'message:register_function', 'user:alice AND result:false', '*'",
    )
    .option("--limit <n>", "at most this many entries", "100")
    .action(
      withClient(cli, async (client, [query], o) => {
        const limit = integer(o.limit as string, "--limit", 1, Number.MAX_SAFE_INTEGER);
        const entries = (await client.queryAuditLogs(query!, limit)).map(auditView);
        cli.print(formatAudit(entries), entries);
      }),
    );
}
