import type { CloisterConfig } from "@cloister/config";
import { TaskId } from "@cloister/model";
import type { Command } from "commander";
import { listFormat, table } from "../format.js";
import { configuredEndpoints, probe } from "../probe.js";
import { type Cli, clientFlags, clientOptions, loadTrust, openClient, readSession } from "./client.js";

type PlatformStatus = Awaited<ReturnType<ReturnType<typeof openClient>["platformStatus"]>>;

/** Slots report their task by bare UUID (the scheduler protocol's form); users see `task-<uuid>`. */
const externalTaskId = (uuid: string): string => TaskId.external(TaskId.fromUuid(uuid));

const ago = (ms: number) =>
  ms < 1000 ? "now" : ms < 120_000 ? `${Math.round(ms / 1000)} s ago` : `${Math.round(ms / 60_000)} min ago`;

/** The task path as the platform reports it (GetPlatformStatus): queue, slots and, for admins, nodes. */
function formatPlatform(p: PlatformStatus, wide: boolean): string[] {
  const lines = [
    `queue     ${p.queueDepth} staged, ${p.runningTasks} running`,
    `nodes     ${p.nodeCount} (${p.slotsBusy}/${p.slotsTotal} slots busy)`,
  ];
  if (!p.detailed) return [...lines, "          (node details: PlatformAdmin only)"];
  const rows = p.nodes.map((n) => {
    const busy = n.slots.filter((s) => s.runningTaskId).length;
    const last = Math.min(...n.slots.map((s) => Number(s.lastSeenMsAgo)));
    return [
      n.node?.nodeId ?? "",
      `${busy}/${n.slots.length - busy}`,
      (n.node?.executors ?? [])
        .map((e) => e.split("/")[1] ?? e)
        .filter((e, i, a) => a.indexOf(e) === i)
        .join(","),
      ago(last),
      ...(wide
        ? [
            n.node?.epcMib ? `${n.node.epcMib} MiB` : "-",
            n.slots
              .filter((s) => s.runningTaskId)
              .map((s) => externalTaskId(s.runningTaskId))
              .join(",") || "-",
          ]
        : []),
    ];
  });
  return [
    ...lines,
    table(["NODE", "BUSY/FREE", "EXECUTORS", "LAST HEARTBEAT", ...(wide ? ["EPC", "RUNNING"] : [])], rows),
  ];
}

/**
 * `cloister status`: each service endpoint (up and attested, down, or something else on its
 * port), the TEE mode the platform proves, who is logged in and — once logged in — the queue
 * depth and execution slots (GetPlatformStatus; node details for a PlatformAdmin).
 */
export function statusCommand(program: Command, cli: Cli, config: () => CloisterConfig): void {
  clientOptions(program.command("status"))
    .description(
      "the platform's services (up and attested?), its TEE mode (simulated or hardware) and your login",
    )
    .option("-o, --format <format>", "table (default), wide (adds EPC and running tasks per node) or json")
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const format = listFormat(o.format as string | undefined, cli.json());
      const flags = clientFlags(cli, o, cmd);
      const trust = loadTrust(flags);
      const endpoints = configuredEndpoints(config());
      const results = await Promise.all(endpoints.map(async (e) => ({ e, p: await probe(e, trust) })));
      const services = results.map(({ e, p }) => ({
        name: e.name,
        address: e.address,
        state: p.state === "attested" ? "up" : p.state === "down" ? "down" : "foreign",
        ...(p.state === "attested"
          ? { enclave: p.peer.name, mr_enclave: p.peer.mrEnclave, simulated: p.peer.simulated }
          : { reason: p.state === "unverified" ? "not checked" : p.reason }),
      }));
      const attested = results.flatMap(({ p }) => (p.state === "attested" ? [p.peer] : []));
      const tee =
        attested.length === 0
          ? "unknown (no service answered)"
          : attested.every((p) => p.simulated)
            ? "simulated"
            : attested.some((p) => p.simulated)
              ? "mixed"
              : "hardware";
      let user = "";
      try {
        user = readSession(flags)?.id ?? "";
      } catch {
        user = "";
      }
      const up = services.filter((s) => s.state === "up").length;
      let platform: PlatformStatus | undefined;
      let platformNote = "";
      if (user && up > 0) {
        const client = openClient(flags);
        try {
          platform = await client.platformStatus();
        } catch (e) {
          platformNote = `nodes and queue unavailable: ${(e as Error).message}`;
        } finally {
          client.close();
        }
      } else platformNote = "log in to see execution nodes and the queue";
      const json = {
        services,
        tee,
        user: user || null,
        frontend: flags.frontend,
        platform: platform
          ? {
              queue_depth: Number(platform.queueDepth),
              running_tasks: Number(platform.runningTasks),
              node_count: platform.nodeCount,
              slots_total: platform.slotsTotal,
              slots_busy: platform.slotsBusy,
              detailed: platform.detailed,
              nodes: platform.nodes.map((n) => ({
                node_id: n.node?.nodeId ?? "",
                executors: n.node?.executors ?? [],
                epc_mib: n.node?.epcMib ?? 0,
                slots: n.slots.map((s) => ({
                  executor_id: s.executorId,
                  running_task_id: s.runningTaskId ? externalTaskId(s.runningTaskId) : null,
                  last_seen_ms_ago: Number(s.lastSeenMsAgo),
                })),
              })),
            }
          : null,
        ...(platform ? {} : { platform_note: platformNote }),
      };
      if (format === "json") {
        console.log(JSON.stringify(json, null, 2));
        if (up < services.length) process.exitCode = 1;
        return;
      }
      const human = [
        table(
          ["SERVICE", "ADDRESS", "STATE", "DETAIL"],
          services.map((s) => [
            s.name,
            s.address,
            s.state,
            "enclave" in s ? `${s.enclave} ${String(s.mr_enclave).slice(0, 16)}…` : (s.reason ?? ""),
          ]),
        ),
        `services  ${up}/${services.length} up`,
        `TEE       ${tee}${tee === "simulated" ? " (no hardware guarantee)" : ""}`,
        `login     ${user ? `${user} at ${flags.frontend}` : "not logged in"}`,
        ...(platform ? formatPlatform(platform, format === "wide") : [`nodes     ${platformNote}`]),
      ].join("\n");
      cli.print(human, json);
      if (up < services.length) process.exitCode = 1;
    });
}
