import { readFileSync, writeFileSync } from "node:fs";
import { EXECUTOR_TYPES, type FunctionDefinition, isExecutorType } from "@cloister/sdk";
import { type Command, InvalidArgumentError, Option } from "commander";
import { argumentSpecs, fileSpecs, integer } from "../args.js";
import { formatFunction, functionView, listFormat, table } from "../format.js";
import { type Cli, clientOptions, withClient } from "./client.js";

const INT32 = 2 ** 31 - 1;

/** Flags describing a function, shared by `register` and `update`. */
function definitionOptions(c: Command, forUpdate: boolean): Command {
  const name = "--name <name>";
  const nameHelp = "function name (selects the builtin for executor type builtin)";
  (forUpdate ? c.option(name, nameHelp) : c.requiredOption(name, nameHelp))
    .option("--description <text>", "description")
    .addOption(
      new Option("--executor-type <type>", `${EXECUTOR_TYPES.join(", ")} (default builtin)`).argParser(
        (v) => {
          if (!isExecutorType(v))
            throw new InvalidArgumentError(`expected one of ${EXECUTOR_TYPES.join(", ")}.`);
          return v;
        },
      ),
    )
    .option(
      "--payload <file>",
      "function code (Python source, WebAssembly module, JavaScript source, a LibOS program or `function pack` archive)",
    )
    .option("--argument <spec...>", "overwritable argument: key or key=default")
    .option("--fixed-argument <key=value...>", "argument task creators cannot change")
    .option("--input <spec...>", "declared input: name, name? (optional), name:description")
    .option("--output <spec...>", "declared output: name, name? (optional), name:description")
    .option("--allow-user <id...>", "user allowlist (for a private function)")
    .option("--usage-quota <n>", "maximum number of invocations; -1 = unlimited (default -1)");
  if (forUpdate) c.option("--public", "make it public").option("--private", "make it private");
  else c.option("--private", "only allow-listed users may use it");
  return c;
}

/** Only the fields the user gave (so update can keep everything else). */
function definitionFromFlags(o: Record<string, unknown>): Partial<FunctionDefinition> {
  const d: Partial<FunctionDefinition> = {};
  if (o.name !== undefined) d.name = o.name as string;
  if (o.description !== undefined) d.description = o.description as string;
  if (o.executorType !== undefined) d.executorType = o.executorType as string;
  if (o.payload !== undefined) d.payload = readFileSync(o.payload as string);
  if (o.argument !== undefined || o.fixedArgument !== undefined) {
    d.arguments = argumentSpecs(o.argument as string[] | undefined, o.fixedArgument as string[] | undefined);
  }
  if (o.input !== undefined) d.inputs = fileSpecs(o.input as string[], "--input");
  if (o.output !== undefined) d.outputs = fileSpecs(o.output as string[], "--output");
  if (o.allowUser !== undefined) d.userAllowlist = o.allowUser as string[];
  if (o.usageQuota !== undefined) d.usageQuota = integer(o.usageQuota as string, "--usage-quota", -1, INT32);
  if (o.private) d.public = false;
  else if (o.public) d.public = true;
  return d;
}

export function functionCommands(program: Command, cli: Cli): void {
  const fn = program.command("function").description("functions (register, inspect, manage)");

  definitionOptions(clientOptions(fn.command("register")), false)
    .description("register a function; prints its id")
    .action(
      withClient(cli, async (client, _args, o) => {
        const d = definitionFromFlags(o);
        const id = await client.registerFunction({ public: true, ...d, name: d.name! });
        cli.print(id, { function_id: id });
      }),
    );

  clientOptions(fn.command("get <function-id>"))
    .description("show a function (payload and allowlist only to its owner and admins)")
    .option("--payload-out <file>", "write the payload to this file")
    .action(
      withClient(cli, async (client, [id], o) => {
        const f = await client.getFunction(id!);
        if (o.payloadOut) writeFileSync(o.payloadOut as string, f.payload);
        const view = functionView(f, id);
        cli.print(formatFunction(view), view);
      }),
    );

  definitionOptions(clientOptions(fn.command("update <function-id>")), true)
    .description(
      "change a function (owner only). Flags not given keep their current value, except the usage quota, which the platform does not reveal: it becomes --usage-quota or unlimited",
    )
    .action(
      withClient(cli, async (client, [id], o) => {
        // UpdateFunction replaces every field, so start from the current definition.
        const current = await client.getFunction(id!);
        const base: FunctionDefinition = {
          name: current.name,
          description: current.description,
          executorType: current.executorType,
          public: current.public,
          payload: current.payload,
          arguments: current.arguments,
          inputs: current.inputs,
          outputs: current.outputs,
          userAllowlist: current.userAllowlist,
          usageQuota: -1,
        };
        const updated = await client.updateFunction(id!, { ...base, ...definitionFromFlags(o) });
        cli.print(`updated ${updated}`, { function_id: updated });
      }),
    );

  clientOptions(fn.command("list"))
    .description("functions a user registered and may use (default: you)")
    .option("--user <id>", "whose functions (PlatformAdmin only for others)")
    .option("-o, --format <format>", "table (default), wide (adds name and executor) or json")
    .action(
      withClient(cli, async (client, _args, o) => {
        const format = listFormat(o.format as string | undefined, cli.json());
        const r = await client.listFunctions(o.user as string | undefined);
        const rows = [
          ...r.registeredFunctions.map((id) => ({ function_id: id, relation: "registered" })),
          ...r.allowedFunctions
            .filter((id) => !r.registeredFunctions.includes(id))
            .map((id) => ({ function_id: id, relation: "allowed" })),
        ];
        if (format === "json")
          return console.log(
            JSON.stringify(
              { registered_functions: r.registeredFunctions, allowed_functions: r.allowedFunctions },
              null,
              2,
            ),
          );
        if (format === "table")
          return console.log(
            table(
              ["FUNCTION", "RELATION"],
              rows.map((x) => [x.function_id, x.relation]),
            ),
          );
        const details = await Promise.all(rows.map((x) => client.getFunction(x.function_id)));
        console.log(
          table(
            ["FUNCTION", "RELATION", "NAME", "EXECUTOR", "OWNER", "VISIBILITY"],
            rows.map((x, i) => [
              x.function_id,
              x.relation,
              details[i]!.name,
              details[i]!.executorType,
              details[i]!.owner,
              details[i]!.public ? "public" : "private",
            ]),
          ),
        );
      }),
    );

  fn.command("builtins")
    .description(
      "the builtin functions: register one with --name <name>, its --argument, --input and --output names",
    )
    .option("-o, --format <format>", "table (default), wide (adds argument types and descriptions) or json")
    .action(async (o: { format?: string }) => {
      const format = listFormat(o.format, cli.json());
      const { BUILTINS, describeBuiltin } = await import("@cloister/executor-builtin");
      const all = BUILTINS.map(describeBuiltin);
      if (format === "json") return console.log(JSON.stringify(all, null, 2));
      const args = (b: (typeof all)[number], wide: boolean) =>
        b.arguments.map((a) => `${a.name}${a.optional ? "?" : ""}${wide ? `:${a.type}` : ""}`).join(" ") ||
        "-";
      const wide = format === "wide";
      console.log(
        table(
          ["NAME", "ARGUMENTS", "INPUTS", "OUTPUTS", ...(wide ? ["WHAT IT DOES"] : [])],
          all.map((b) => [
            b.name,
            args(b, wide),
            b.inputs.join(" ") || "-",
            b.outputs.join(" ") || "-",
            ...(wide ? [b.summary] : []),
          ]),
        ),
      );
    });

  clientOptions(fn.command("delete <function-id>"))
    .description("delete a function (its owner only)")
    .action(
      withClient(cli, async (client, [id]) => {
        await client.deleteFunction(id!);
        cli.print(`deleted ${id}`, { function_id: id });
      }),
    );

  clientOptions(fn.command("disable <function-id>"))
    .description("withdraw a function from its allow-listed users")
    .action(
      withClient(cli, async (client, [id]) => {
        await client.disableFunction(id!);
        cli.print(`disabled ${id}`, { function_id: id });
      }),
    );

  clientOptions(fn.command("usage <function-id>"))
    .description("quota and number of invocations")
    .action(
      withClient(cli, async (client, [id]) => {
        const s = await client.getFunctionUsageStats(id!);
        const quota = s.functionQuota < 0 ? "unlimited" : String(s.functionQuota);
        cli.print(`${id}: ${s.currentUsage} invocation(s), quota ${quota}`, {
          function_id: id,
          function_quota: s.functionQuota,
          current_usage: s.currentUsage,
        });
      }),
    );
}
