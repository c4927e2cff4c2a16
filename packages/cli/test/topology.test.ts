// Which processes a topology runs and what `cloister service <name>` accepts under each; what a
// combined process's measurement covers. No platform is started.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig, SERVICE_NAMES } from "@cloister/config";
import { ConfigError } from "@cloister/core";
import {
  CONTROL_PLANE,
  measuredName,
  measureOwnCode,
  processCodeDirs,
  processesOf,
  processOf,
  serviceCodeDirs,
} from "@cloister/host";
import { processNamed } from "../src/commands/service.js";

const config = (topology?: string) =>
  loadConfig({
    env: topology ? { CLOISTER_TOPOLOGY: topology } : {},
    overrides: { data_dir: "/nonexistent" },
  });

test("combined (the default) runs the control plane as one process and the node beside it", () => {
  assert.equal(config().topology, "combined");
  const processes = processesOf("combined");
  assert.deepEqual(
    processes.map((p) => p.name),
    ["control-plane", "execution"],
  );
  assert.deepEqual(processes[0]!.services, CONTROL_PLANE);
  // Every service runs somewhere, once.
  const all = processes.flatMap((p) => p.services);
  assert.deepEqual([...all].sort(), [...SERVICE_NAMES].sort());
});

test("split runs one process per service", () => {
  const processes = processesOf("split");
  assert.equal(processes.length, SERVICE_NAMES.length);
  for (const p of processes) assert.deepEqual(p.services, [p.name]);
});

test("cloister service accepts the processes of the topology and names the process a service runs in", () => {
  assert.equal(processNamed("control-plane", config()).name, "control-plane");
  assert.equal(processNamed("control_plane", config()).name, "control-plane"); // the CLI's - → _ form
  assert.equal(processNamed("execution", config()).name, "execution");
  assert.equal(processNamed("management", config("split")).name, "management");
  const refused = (name: string, topology?: string) => {
    try {
      processNamed(name, config(topology));
    } catch (e) {
      return e;
    }
    return undefined;
  };
  const alone = refused("management");
  assert.ok(alone instanceof ConfigError, String(alone));
  // What the user sees names the process to run instead.
  assert.match(alone.message, /cloister service control-plane/);
  assert.ok(refused("control-plane", "split") instanceof ConfigError);
  assert.ok(refused("nonsense") instanceof ConfigError);
});

test("a combined process is one measured unit over all its services' code; a lone service keeps its own", () => {
  const plane = processOf("frontend", "combined");
  assert.equal(measuredName(plane), "cloister_control_plane");
  for (const s of CONTROL_PLANE)
    for (const dir of serviceCodeDirs(s)) assert.ok(processCodeDirs(plane).includes(dir));
  const frontend = measureOwnCode("frontend", "combined");
  for (const s of CONTROL_PLANE) assert.deepEqual(measureOwnCode(s, "combined"), frontend);
  assert.notDeepEqual(measureOwnCode("frontend", "split"), frontend);
  assert.notDeepEqual(measureOwnCode("frontend", "split"), measureOwnCode("management", "split"));
  // The execution node is its own process under both topologies.
  assert.deepEqual(measureOwnCode("execution", "combined"), measureOwnCode("execution", "split"));
  assert.equal(measuredName(processOf("execution", "combined")), "teaclave_execution_service");
});
