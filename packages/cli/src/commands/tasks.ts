import type { Command } from "commander";
import { dataMap, integer, jsonObject, ownerships } from "../args.js";
import { formatTask, taskView } from "../format.js";
import { type Cli, clientOptions, withClient } from "./client.js";

const PAST = { approve: "approved", invoke: "invoked", cancel: "cancel requested" } as const;

export function taskCommands(program: Command, cli: Cli): void {
  const task = program.command("task").description("tasks: create, assign data, approve, invoke, follow");

  clientOptions(task.command("create"))
    .description("create a task for a function; prints its id")
    .requiredOption("--function <id>", "function id")
    .option("--args <json>", "function arguments as a JSON object", "{}")
    .option("--executor <name>", "builtin, mesapy, wamr, javascript or libos", "builtin")
    .option("--input-owner <name=uid,uid...>", "owners of each input")
    .option("--output-owner <name=uid,uid...>", "owners of each output")
    .action(
      withClient(cli, async (client, _args, o) => {
        const id = await client.createTask({
          functionId: o.function as string,
          arguments: jsonObject(o.args as string, "--args"),
          executor: o.executor as string,
          inputsOwnership: ownerships(o.inputOwner as string[] | undefined, "--input-owner"),
          outputsOwnership: ownerships(o.outputOwner as string[] | undefined, "--output-owner"),
        });
        cli.print(id, { task_id: id });
      }),
    );

  clientOptions(task.command("get <task-id>"))
    .description("show a task (participants only)")
    .option("--wait", "wait until it has ended")
    .option("--timeout <seconds>", "with --wait: how long", "120")
    .action(
      withClient(cli, async (client, [id], o) => {
        const t = o.wait
          ? await client.waitForTask(id!, {
              timeoutMs: integer(o.timeout as string, "--timeout", 1, 86_400) * 1000,
            })
          : await client.getTask(id!);
        const view = taskView(t);
        cli.print(formatTask(view), view);
      }),
    );

  clientOptions(task.command("assign <task-id>"))
    .description("assign your files to the task's data names")
    .option("--input <name=data-id...>", "input files")
    .option("--output <name=data-id...>", "output files")
    .action(
      withClient(cli, async (client, [id], o) => {
        const inputs = dataMap(o.input as string[] | undefined, "--input");
        const outputs = dataMap(o.output as string[] | undefined, "--output");
        await client.assignData(id!, inputs, outputs);
        const names = [...Object.keys(inputs), ...Object.keys(outputs)];
        cli.print(`assigned ${names.join(", ") || "nothing"} to ${id}`, { task_id: id, inputs, outputs });
      }),
    );

  for (const verb of ["approve", "invoke", "cancel"] as const) {
    clientOptions(task.command(`${verb} <task-id>`))
      .description(
        verb === "approve"
          ? "approve the task (every participant must)"
          : verb === "invoke"
            ? "start the task (its creator, once data is assigned and approved)"
            : "cancel the task (its creator or a PlatformAdmin)",
      )
      .action(
        withClient(cli, async (client, [id]) => {
          await client[`${verb}Task`](id!);
          cli.print(`${id} ${PAST[verb]}`, { task_id: id });
        }),
      );
  }

  clientOptions(task.command("result <task-id>"))
    .description("wait for the task and print its return value (fails with the reason if the task failed)")
    .option("--timeout <seconds>", "how long to wait", "120")
    .action(
      withClient(cli, async (client, [id], o) => {
        const out = await client.taskOutputs(id!, {
          timeoutMs: integer(o.timeout as string, "--timeout", 1, 86_400) * 1000,
        });
        const tags = Object.fromEntries(Object.entries(out.tags).map(([k, v]) => [k, v.toString("hex")]));
        const returnValue = out.returnValue.toString("utf8");
        const human = [
          returnValue,
          ...Object.entries(tags).map(([k, v]) => `  output tag ${k} ${v}`),
          ...out.log.map((l) => `  log ${l}`),
        ];
        cli.print(human.join("\n"), { task_id: id, return_value: returnValue, tags, log: out.log });
      }),
    );
}
