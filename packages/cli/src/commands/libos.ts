import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { TaskId } from "@cloister/model";
import {
  LibosError,
  packFunctionDirectory,
  runtimeTrustFromDataDir,
  type TaskEvidence,
  verifyTaskEvidence,
} from "@cloister/sdk";
import type { Command } from "commander";
import { type Cli, clientOptions, withClient } from "./client.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** `function pack` and `task evidence`: LibOS functions (Cloister extension). */
export function libosCommands(program: Command, cli: Cli): void {
  const fn = program.commands.find((c) => c.name() === "function")!;
  const task = program.commands.find((c) => c.name() === "task")!;

  fn.command("pack <dir>")
    .description("pack a LibOS function folder (with cloister-function.toml) into a payload archive")
    .option("-o, --output <file>", "where to write it (default <dir>.tar)")
    .action((dir: string, o: { output?: string }) => {
      const archive = packFunctionDirectory(dir);
      const out = o.output ?? `${resolve(dir)}.tar`;
      writeFileSync(out, archive);
      const hash = sha256(archive);
      cli.print(`${out}\nsha256 ${hash} (${archive.length} bytes) — the payload hash task evidence names`, {
        payload: out,
        sha256: hash,
        bytes: archive.length,
      });
    });

  clientOptions(task.command("evidence <task-id>"))
    .description(
      "verify a LibOS task's evidence: which audited runtime (runtime_info.toml) ran which payload for this task",
    )
    .option("--payload <file>", "also check that this function payload is the one that ran")
    .option("--save <file>", "write the raw evidence (JSON) to this file")
    .action(
      withClient(cli, async (client, [id], o, flags) => {
        const raw = await client.taskEvidence(id!);
        if (!raw)
          throw new LibosError("evidence", `task ${id} has no evidence (not run yet, or not a LibOS task)`);
        if (o.save) writeFileSync(o.save as string, raw);
        let evidence: TaskEvidence;
        try {
          evidence = JSON.parse(raw.toString("utf8")) as TaskEvidence;
        } catch {
          throw new LibosError("evidence", "the platform returned evidence that is not JSON");
        }
        const trust = runtimeTrustFromDataDir(flags.dataDir);
        // The platform accepted the id above, so it parses.
        const taskUuid = TaskId.parse(id!);
        const payloadSha256 = o.payload ? sha256(readFileSync(o.payload as string)) : undefined;
        const v = verifyTaskEvidence(evidence, trust, {
          taskId: taskUuid,
          ...(payloadSha256 ? { payloadSha256 } : {}),
        });
        const t = await client.getTask(id!);
        const returned = t.result?.Ok?.returnValue;
        const returnMatches = returned ? sha256(Buffer.from(returned)) === v.stdoutSha256 : undefined;
        const lines = [
          `verified: task ${id} ran in runtime ${v.runtime}`,
          `  measurement  ${v.measurement}${v.simulated ? "  (SIMULATED evidence: no hardware guarantee)" : ""}`,
          `  payload      sha256 ${v.payloadSha256}${o.payload ? ` = ${basename(o.payload as string)}` : ""}`,
          `  exit status  ${v.exit}`,
          `  stdout       sha256 ${v.stdoutSha256}${returnMatches === undefined ? "" : returnMatches ? " = the task's return value" : " ≠ the task's return value"}`,
          ...Object.entries(v.outputs).map(([n, h]) => `  output ${n}  sha256 ${h}`),
        ];
        cli.print(lines.join("\n"), { verified: true, ...v, return_value_matches: returnMatches ?? null });
      }),
    );
}
