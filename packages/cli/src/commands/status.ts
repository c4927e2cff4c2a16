import type { CloisterConfig } from "@cloister/config";
import type { Command } from "commander";
import { table } from "../format.js";
import { configuredEndpoints, probe } from "../probe.js";
import { type Cli, clientFlags, clientOptions, loadTrust, readSession } from "./client.js";

/**
 * `cloister status`: each service endpoint (up and attested, down, or something else on its
 * port), the TEE mode the platform proves, and who is logged in. Execution nodes and the queue
 * depth are not reported: the platform exposes them on no RPC a client may call.
 */
export function statusCommand(program: Command, cli: Cli, config: () => CloisterConfig): void {
  clientOptions(program.command("status"))
    .description(
      "the platform's services (up and attested?), its TEE mode (simulated or hardware) and your login",
    )
    .action(async (o: Record<string, unknown>, cmd: Command) => {
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
      ].join("\n");
      cli.print(human, { services, tee, user: user || null, frontend: flags.frontend });
      if (up < services.length) process.exitCode = 1;
    });
}
