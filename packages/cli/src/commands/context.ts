import type { Command } from "commander";
import { UsageError } from "../args.js";
import { contextsPath, readContexts, selectContext, writeContexts } from "../contexts.js";
import { listFormat, table } from "../format.js";
import type { Cli } from "./client.js";

/** `cloister context list|use|current|delete`: the saved platforms, kubectl-style. */
export function contextCommands(program: Command, cli: Cli): void {
  const context = program
    .command("context")
    .description("saved platforms (one context per platform: endpoints, trust files, login)");

  context
    .command("list")
    .description("every saved context; * marks the current one")
    .option("-o, --format <format>", "table (default), wide or json")
    .action((o: { format?: string }) => {
      const file = readContexts();
      const format = listFormat(o.format, cli.json());
      const entries = Object.entries(file.contexts).map(([name, c]) => ({
        name,
        current: name === file.current,
        frontend: c.frontend,
        authentication: c.authentication,
        user: c.session?.id ?? "",
        as_root_ca: c.as_root_ca,
        enclave_info: c.enclave_info,
      }));
      if (format === "json") return console.log(JSON.stringify(entries, null, 2));
      const wide = format === "wide";
      console.log(
        table(
          [
            "CURRENT",
            "NAME",
            "FRONTEND",
            "USER",
            ...(wide ? ["AUTHENTICATION", "AS ROOT CA", "ENCLAVE INFO"] : []),
          ],
          entries.map((e) => [
            e.current ? "*" : "",
            e.name,
            e.frontend,
            e.user || "(logged out)",
            ...(wide ? [e.authentication, e.as_root_ca, e.enclave_info] : []),
          ]),
        ),
      );
    });

  context
    .command("use <name>")
    .description("make a context the current one")
    .action((name: string) => {
      const file = readContexts();
      if (!file.contexts[name]) {
        const known = Object.keys(file.contexts);
        throw new UsageError(
          `no context named ${name}${known.length ? ` (known: ${known.join(", ")})` : ""}`,
        );
      }
      file.current = name;
      writeContexts(file);
      cli.print(`switched to context ${name}`, { current: name });
    });

  context
    .command("current")
    .description("print the current context's name")
    .action(() => {
      const selected = selectContext(readContexts(), cli.contextName());
      if (!selected)
        throw new UsageError(`no current context (${contextsPath()}): run \`cloister user login <id>\``);
      cli.print(selected.name, {
        current: selected.name,
        ...selected.context,
        session: undefined,
        user: selected.context.session?.id,
      });
    });

  context
    .command("delete <name>")
    .description("forget a context and its login")
    .action((name: string) => {
      const file = readContexts();
      if (!file.contexts[name]) throw new UsageError(`no context named ${name}`);
      delete file.contexts[name];
      if (file.current === name) delete file.current;
      writeContexts(file);
      cli.print(`deleted context ${name}`, { deleted: name });
    });
}
