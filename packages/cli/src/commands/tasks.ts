import { common } from "@cloister/proto";
import {
  EXECUTOR_TYPES,
  isExecutorType,
  resolveTaskExecutor,
  type TaskView,
  waitingFor,
} from "@cloister/sdk";
import { type Command, InvalidArgumentError, Option } from "commander";
import { dataMap, integer, jsonObject, ownerships, UsageError } from "../args.js";
import { formatTask, taskView } from "../format.js";
import { type Cli, clientOptions, withClient } from "./client.js";

/**
 * On a terminal, one stderr line that follows what the task waits for; elsewhere nothing (so
 * scripts and logs see only the result). Returns the callback and a function clearing the line.
 */
function progress(id: string): { onProgress: (t: TaskView) => void; done: () => void } {
  if (!process.stderr.isTTY) return { onProgress: () => undefined, done: () => undefined };
  let last = "";
  const started = Date.now();
  return {
    onProgress(t) {
      const line = `${id}: waiting for ${waitingFor(t).join(", ")}`;
      const secs = Math.floor((Date.now() - started) / 1000);
      const text = `${line} (${secs} s)`;
      if (text === last) return;
      last = text;
      const width = process.stderr.columns ?? 80;
      process.stderr.write(`\r\x1b[K${text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text}`);
    },
    done() {
      if (last) process.stderr.write("\r\x1b[K");
    },
  };
}

const PAST = { approve: "approved", invoke: "invoked", cancel: "cancel requested" } as const;

/**
 * The platform wants exactly the function's overwritable arguments (legacy rule, kept on the
 * wire). Declared defaults fill the ones not given; anything else is a usage error naming the
 * argument, rather than the platform's bare `invalid task`.
 */
export function fillArgumentDefaults(
  args: Record<string, unknown>,
  declared: Array<{ key: string; defaultValue: string; allowOverwrite: boolean }>,
): void {
  const overwritable = new Map(declared.filter((d) => d.allowOverwrite).map((d) => [d.key, d.defaultValue]));
  for (const key of Object.keys(args)) {
    if (overwritable.has(key)) continue;
    const fixed = declared.some((d) => d.key === key);
    throw new UsageError(
      fixed
        ? `--args: ${key} is fixed by the function and cannot be given`
        : `--args: the function declares no argument ${key} (it takes: ${[...overwritable.keys()].join(", ") || "none"})`,
    );
  }
  const missing: string[] = [];
  for (const [key, defaultValue] of overwritable) {
    if (Object.hasOwn(args, key)) continue;
    if (defaultValue !== "") args[key] = defaultValue;
    else missing.push(key);
  }
  if (missing.length)
    throw new UsageError(
      `--args: give ${missing.join(", ")} (the function declares no default), e.g. --args '{"${missing[0]}":"…"}'`,
    );
}

/** What `task create --executor` takes: a function's executor type, or `python3`. */
const EXECUTOR_NAMES = [...EXECUTOR_TYPES.slice(0, 2), "python3", ...EXECUTOR_TYPES.slice(2)];

export function taskCommands(program: Command, cli: Cli): void {
  const task = program.command("task").description("tasks: create, assign data, approve, invoke, follow");

  clientOptions(task.command("create"))
    .description("create a task for a function; prints its id")
    .requiredOption("--function <id>", "function id")
    .option("--args <json>", "function arguments as a JSON object", "{}")
    .addOption(
      new Option(
        "--executor <name>",
        `${EXECUTOR_NAMES.join(", ")} (python runs MesaPy payloads, also called mesapy; python3 runs plain Python 3); default: the function's executor type`,
      ).argParser((v) => {
        if (!resolveTaskExecutor(v))
          throw new InvalidArgumentError(`expected one of ${EXECUTOR_NAMES.join(", ")} (or mesapy).`);
        return v;
      }),
    )
    .option("--input-owner <name=uid,uid...>", "owners of each input")
    .option("--output-owner <name=uid,uid...>", "owners of each output")
    .action(
      withClient(cli, async (client, _args, o) => {
        const args = jsonObject(o.args as string, "--args");
        let executor = o.executor === undefined ? undefined : resolveTaskExecutor(o.executor as string);
        const fn = await client.getFunction(o.function as string);
        if (!executor) {
          // The executor that runs the function's type, so a Python function needs no flag.
          executor = isExecutorType(fn.executorType) ? resolveTaskExecutor(fn.executorType) : undefined;
        }
        fillArgumentDefaults(args, fn.arguments);
        const id = await client.createTask({
          functionId: o.function as string,
          arguments: args,
          executor: executor ?? "builtin",
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
        const timeoutMs = integer(o.timeout as string, "--timeout", 1, 86_400) * 1000;
        const p = progress(id!);
        const t = o.wait
          ? await client.waitForTask(id!, { timeoutMs, onProgress: p.onProgress }).finally(p.done)
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
    .description(
      "wait for the task and print its return value on stdout, output tags and log on stderr (fails with the reason if the task failed; on timeout says what the task waits for)",
    )
    .option("--timeout <seconds>", "how long to wait", "120")
    .action(
      withClient(cli, async (client, [id], o) => {
        const timeoutMs = integer(o.timeout as string, "--timeout", 1, 86_400) * 1000;
        const p = progress(id!);
        const out = await client.taskOutputs(id!, { timeoutMs, onProgress: p.onProgress }).finally(p.done);
        const tags = Object.fromEntries(Object.entries(out.tags).map(([k, v]) => [k, v.toString("hex")]));
        const returnValue = out.returnValue.toString("utf8");
        // stdout is the return value alone (x=$(cloister task result …)); tags and log go to stderr.
        if (!cli.json()) {
          for (const [k, v] of Object.entries(tags)) cli.note(`output tag ${k} ${v}`);
          for (const l of out.log) cli.note(`log ${l}`);
        }
        cli.print(returnValue, { task_id: id, return_value: returnValue, tags, log: out.log });
      }),
    );

  clientOptions(task.command("logs <task-id>"))
    .description(
      "print the task's own log (its function's stdout, stderr and console lines) on stdout, one line each; participants only, and only for a task created with save_log=true",
    )
    .option("-f, --follow", "keep printing lines as the task writes them; ends when the task has ended")
    .action(
      withClient(cli, async (client, [id], o) => {
        const all: string[] = [];
        let truncated = false;
        let kept = true;
        const follow = o.follow === true;
        let waitingNoted = false;
        for await (const chunk of client.taskLog(id!, { follow })) {
          kept = chunk.kept;
          truncated ||= chunk.truncated;
          // On a terminal, say once why nothing comes yet: the task has not started running.
          if (
            follow &&
            kept &&
            !waitingNoted &&
            process.stderr.isTTY &&
            chunk.status < common.TaskStatus.Running
          ) {
            waitingNoted = true;
            cli.note(
              `${id}: ${common.taskStatusToJSON(chunk.status)}, not running yet; waiting (Ctrl-C to stop)`,
            );
          }
          if (cli.json()) all.push(...chunk.lines);
          else for (const line of chunk.lines) process.stdout.write(`${line}\n`);
        }
        if (!kept) cli.note(`${id}: this task keeps no log (it was created without save_log=true)`);
        else if (truncated && !cli.json())
          cli.note(`${id}: the log reached its 1 MiB bound; later lines were dropped`);
        if (cli.json()) cli.print("", { task_id: id, kept, truncated, lines: all });
      }),
    );
}
