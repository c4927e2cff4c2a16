import type { Command } from "commander";
import { integer } from "../args.js";
import { auditView, listFormat, table } from "../format.js";
import { type Cli, clientOptions, withClient } from "./client.js";

export function auditCommands(program: Command, cli: Cli): void {
  const audit = program.command("audit").description("the frontend's audit log (PlatformAdmin only)");
  clientOptions(audit.command("query <query>"))
    .description(
      "entries matching a query, newest first: e.g. 'message:register_function', 'user:alice AND result:false', '*'",
    )
    .option("--limit <n>", "at most this many entries", "100")
    .option("-o, --format <format>", "table (default), wide (adds microseconds) or json")
    .action(
      withClient(cli, async (client, [query], o) => {
        const format = listFormat(o.format as string | undefined, cli.json());
        const limit = integer(o.limit as string, "--limit", 1, Number.MAX_SAFE_INTEGER);
        const entries = (await client.queryAuditLogs(query!, limit)).map(auditView);
        if (format === "json") return console.log(JSON.stringify(entries, null, 2));
        const wide = format === "wide";
        console.log(
          table(
            ["DATE", ...(wide ? ["MICROSECOND"] : []), "RESULT", "IP", "USER", "MESSAGE"],
            entries.map((e) => [
              e.date,
              ...(wide ? [String(e.microsecond)] : []),
              e.result ? "ok" : "FAILED",
              e.ip,
              e.user || "-",
              e.message,
            ]),
          ),
        );
      }),
    );
}
